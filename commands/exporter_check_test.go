package commands

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExporterRefusesAtStart: the flags that only mean something beside
// another, inexact log levels, paths net/http's patterns would read as
// patterns, proc roots that are not one, and web configurations naming
// files that would block or never end are each one line and exit 2,
// before anything is opened.
func TestExporterRefusesAtStart(t *testing.T) {
	dir := t.TempDir()
	mkfifo := func(name string) string {
		p := filepath.Join(dir, name)
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifoConfig := mkfifo("web-fifo.yml")
	mkfifo("cert.fifo")
	certFIFO := write("web-cert-fifo.yml", "tls_server_config:\n  cert_file: cert.fifo\n  key_file: key.pem\n")
	keyZero := write("web-key-zero.yml", "tls_server_config:\n  key_file: /dev/zero\n")
	caDir := write("web-ca-dir.yml", "tls_server_config:\n  client_ca_file: "+dir+"\n")
	write("big.pem", strings.Repeat("x", 1<<20+1))
	certBig := write("web-cert-big.yml", "tls_server_config:\n  cert_file: big.pem\n")
	emptyProc := filepath.Join(dir, "emptyproc")
	if err := os.Mkdir(emptyProc, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-netns", "4"}, "--max-netns needs --all-netns"},
		{[]string{"--rediscover-interval", "1m"}, "--rediscover-interval needs --all-netns"},
		{[]string{"--verify-max-entries", "4"}, "--verify-max-entries needs --verify-interval"},
		{[]string{"--log.level", "info+2"}, `--log.level "info+2"`},
		{[]string{"--log.level", "INFO"}, `--log.level "INFO"`},
		{[]string{"--web.telemetry-path", "/a b"}, `--web.telemetry-path "/a b": want a plain path`},
		{[]string{"--web.telemetry-path", "/a\tb"}, `--web.telemetry-path "/a\tb": want a plain path`},
		{[]string{"--web.telemetry-path", "/x/{a}/{a}"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/{a"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/a/{x...}/b"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/{0}"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/a{b}"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/{}"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/{x}"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/metrics/"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/a//b"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/a/../b"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/a%20b"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/\x1b[31m"}, `"/\x1b[31m": want a plain path`},
		{[]string{"--web.telemetry-path", "/"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "metrics"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/findings/"}, "want a plain path"},
		{[]string{"--web.telemetry-path", "/findings/x"}, "/findings is where the findings are served"},
		{[]string{"--web.telemetry-path", "/findings"}, "/findings is where the findings are served"},
		{[]string{"--all-netns", "--proc-root", filepath.Join(dir, "nonexistent")}, "--proc-root " + filepath.Join(dir, "nonexistent") + ": no such file or directory"},
		{[]string{"--all-netns", "--proc-root", emptyProc}, "holds no process directories"},
		{[]string{"--all-netns", "--proc-root", fifoConfig}, "not a directory"},
		{[]string{"--web.config.file", fifoConfig}, "--web.config.file " + fifoConfig + ": not a regular file"},
		{[]string{"--web.config.file", "/proc/version"}, "a file of /proc or /sys"},
		{[]string{"--web.config.file", certFIFO}, "tls_server_config.cert_file " + filepath.Join(dir, "cert.fifo") + ": not a regular file"},
		{[]string{"--web.config.file", keyZero}, "tls_server_config.key_file /dev/zero: not a regular file"},
		{[]string{"--web.config.file", caDir}, "tls_server_config.client_ca_file " + dir + ": not a regular file"},
		{[]string{"--web.config.file", certBig}, "tls_server_config.cert_file " + filepath.Join(dir, "big.pem") + ": larger than"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ios, _, out, errOut := TestStreams()
			args := []string{"exporter"}
			if tc.args[0] == "--all-netns" {
				args = []string{"--all-netns", "--proc-root", tc.args[2], "exporter"}
			} else {
				args = append(args, tc.args...)
			}
			code := Main(context.Background(), ios, args)
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			msg := errOut.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "arpdoctor: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q: want one line with %q", msg, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestCheckTelemetryPathAccepts(t *testing.T) {
	for _, p := range []string{"/metrics", "/a/b-c/d_e.f~g", "/findingsx", "/x/findings"} {
		if err := checkTelemetryPath(p); err != nil {
			t.Errorf("checkTelemetryPath(%q): %v", p, err)
		}
	}
}

// FuzzCheckTelemetryPath: whatever the check accepts, net/http's ServeMux
// takes as a pattern without panicking, and it matches that path alone.
func FuzzCheckTelemetryPath(f *testing.F) {
	for _, s := range []string{"/metrics", "/{x}", "/a b", "/findings/", "/a/../b", "/%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkTelemetryPath(p) != nil {
			return
		}
		mux := http.NewServeMux()
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
		mux.HandleFunc("/findings", func(http.ResponseWriter, *http.Request) {})
		if _, pat := mux.Handler(httptest.NewRequest("GET", p, nil)); pat != p {
			t.Errorf("%q matched pattern %q", p, pat)
		}
		if _, pat := mux.Handler(httptest.NewRequest("GET", p+"x", nil)); pat == p {
			t.Errorf("%q matched %q", p+"x", pat)
		}
	})
}

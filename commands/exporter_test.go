package commands

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestExporterFlags(t *testing.T) {
	var got *exporterOptions
	ios, _, _, _ := TestStreams()
	g := &globalOptions{io: ios, AllNetNS: true, ProcRoot: "/proc"}
	cmd := newExporterCmd(g, func(_ context.Context, o *exporterOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--trace-interface", "eth0", "--trace-interface", "eth1", "--verify-interval", "5m",
		"--web.listen-address", "127.0.0.1:9877", "--web.listen-address", "[::1]:9877", "--log.level", "debug",
		"--log.format", "json", "--profile", "kubernetes", "--max-interfaces", "4",
		"--max-netns", "8", "--rediscover-interval", "1m"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := exporterOptions{
		Profile: "kubernetes", TraceInterfaces: []string{"eth0", "eth1"}, VerifyInterval: 5 * time.Minute,
		VerifyMaxEntries: 256, MaxInterfaces: 4, MaxNetNS: 8, RediscoverEvery: time.Minute, ListenAddresses: []string{"127.0.0.1:9877", "[::1]:9877"},
		TelemetryPath: "/metrics", LogLevel: "debug", LogFormat: "json",
	}
	if diff := cmp.Diff(want, *got, cmpopts.IgnoreUnexported(exporterOptions{}), cmpopts.IgnoreFields(exporterOptions{}, "globalOptions")); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestExporterBadInput: each mistake is one line on stderr and exit 2,
// before anything listens or captures.
func TestExporterBadInput(t *testing.T) {
	dir := t.TempDir()
	malformed := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(malformed, []byte("tls_server_config:\n  cert_file: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "web-unknown.yml")
	if err := os.WriteFile(unknownKey, []byte("basic_auth_users:\n  alice: not-a-bcrypt-hash\ntls_sever_config: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--web.listen-address", "nonsense"}, `--web.listen-address "nonsense": want HOST:PORT or :PORT`},
		{[]string{"--web.listen-address", "127.0.0.1:99999"}, `port "99999" is not a number`},
		{[]string{"--web.listen-address", "127.0.0.1:http"}, `port "http" is not a number`},
		{[]string{"--trace-interface", "arpdt-nosuch0", "--web.listen-address", "127.0.0.1:0"}, `--trace-interface: interface "arpdt-nosuch0" not found`},
		{[]string{"--web.config.file", malformed}, "--web.config.file " + malformed + ":"},
		{[]string{"--web.config.file", unknownKey}, "--web.config.file " + unknownKey + ":"},
		{[]string{"--web.config.file", filepath.Join(dir, "absent.yml")}, "no such file"},
		{[]string{"--profile", "paranoid"}, `--profile: unknown profile "paranoid"`},
		{[]string{"--verify-interval", "1s"}, "--verify-interval 1s: want 0 (off) or at least 10s"},
		{[]string{"--log.level", "loud"}, `--log.level "loud"`},
		{[]string{"--log.format", "xml"}, `--log.format "xml"`},
		{[]string{"--web.telemetry-path", "/findings"}, "--web.telemetry-path"},
		{[]string{"--max-netns", "-1"}, "--max-netns must not be negative"},
		{[]string{"--rediscover-interval", "1s"}, "--rediscover-interval 1s: want at least 5s"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ios, _, out, errOut := TestStreams()
			code := Main(context.Background(), ios, append([]string{"exporter"}, tc.args...))
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

// TestExporterAddressInUse: an address that cannot be bound is one line and
// exit 2, once the exporter has read the namespace but before it serves.
func TestExporterAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ios, _, _, errOut := TestStreams()
	code := Main(context.Background(), ios, []string{"exporter", "--web.listen-address", l.Addr().String(), "--log.level", "error"})
	if code != ExitTrouble {
		t.Errorf("exit code %d, want %d", code, ExitTrouble)
	}
	msg := errOut.String()
	if want := "arpdoctor: --web.listen-address " + l.Addr().String() + ": listen tcp"; strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
		t.Errorf("stderr %q: want one line starting %q", msg, want)
	}
}

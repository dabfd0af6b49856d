package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/exporter"
	"github.com/arpdoctor/arpdoctor/neigh"
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

// TestExporterTakesNoOutput: the exporter prints no result, so -o, of any
// format, is a mistake worded as such.
func TestExporterTakesNoOutput(t *testing.T) {
	for _, format := range []string{"json", "table"} {
		ios, _, out, errOut := TestStreams()
		code := Main(context.Background(), ios, []string{"-o", format, "exporter"})
		if code != ExitTrouble {
			t.Errorf("-o %s: exit code %d, want %d", format, code, ExitTrouble)
		}
		want := "arpdoctor: exporter serves metrics over HTTP and takes no -o (see 'arpdoctor exporter --help')\n"
		if got := errOut.String(); got != want || out.Len() != 0 {
			t.Errorf("-o %s: stderr %q, stdout %q: want %q", format, got, out, want)
		}
	}
}

// TestExporterTraceAuto: --trace-interface auto is the interface of the
// default route, beside any interface named; without a default route it
// is one line.
func TestExporterTraceAuto(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		defaultIf  string
		defaultErr error
		want       []string
		chosen     string
		err        string
	}{
		{args: []string{"eth1"}, want: []string{"eth1"}},
		{args: []string{"auto"}, defaultIf: "ens5", want: []string{"ens5"}, chosen: "ens5"},
		{args: []string{"eth1", "auto", "ens5"}, defaultIf: "ens5", want: []string{"eth1", "ens5"}, chosen: "ens5"},
		{args: []string{"auto"}, defaultErr: neigh.ErrNoDefaultRoute, err: "--trace-interface auto: network namespace blue has no default route; name the interface to trace"},
	} {
		f := &fakeNeigh{defaultIf: tc.defaultIf, defaultErr: tc.defaultErr}
		o := &exporterOptions{globalOptions: &globalOptions{NetNS: "blue", seams: seams{openNeigh: func(netns string) (neighClient, error) {
			if netns != "blue" {
				t.Errorf("auto resolved in %q, want blue", netns)
			}
			return f, nil
		}}}, TraceInterfaces: tc.args}
		got, chosen, err := o.traceInterfaces()
		switch {
		case tc.err != "":
			var fe *FlagError
			if err == nil || err.Error() != tc.err || !errors.As(err, &fe) {
				t.Errorf("%v: error %v, want the usage error %q", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.args, err)
		default:
			if diff := cmp.Diff(tc.want, got); diff != "" || chosen != tc.chosen {
				t.Errorf("%v: chose %q, want %q; interfaces (-want +got):\n%s", tc.args, chosen, tc.chosen, diff)
			}
		}
	}
}

// TestExporterPrivilegeHint: a missing capability names the flag that
// needs it and how to grant it where the exporter runs (systemd's ambient
// capabilities, Kubernetes' securityContext), where setcap alone cannot
// work, on one line.
func TestExporterPrivilegeHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&exporter.StartError{Collector: exporter.CollectorVerify, Err: fmt.Errorf("verifying: %w", &neigh.PrivilegeError{Op: "opening a probe socket", Cap: neigh.CapNetRaw})},
			"--verify-interval: verifying: opening a probe socket needs CAP_NET_RAW: run as root, or grant CAP_NET_RAW: AmbientCapabilities=CAP_NET_RAW in the systemd unit, securityContext.capabilities.add: [NET_RAW] in Kubernetes, or elsewhere sudo setcap cap_net_raw+ep $(command -v arpdoctor)"},
		{&exporter.StartError{Collector: exporter.CollectorNetNS, Err: fmt.Errorf("reading every network namespace: %w", &neigh.PrivilegeError{Op: "entering other network namespaces", Cap: neigh.CapSysAdmin})},
			"--all-netns: reading every network namespace: entering other network namespaces needs CAP_SYS_ADMIN: run as root, or grant CAP_SYS_ADMIN: AmbientCapabilities=CAP_SYS_ADMIN in the systemd unit, securityContext.capabilities.add: [SYS_ADMIN] in Kubernetes, or elsewhere sudo setcap cap_sys_admin+ep $(command -v arpdoctor)"},
		{&neigh.PrivilegeError{Op: "entering network namespace /run/netns/blue", Cap: neigh.CapSysAdmin},
			"entering network namespace /run/netns/blue needs CAP_SYS_ADMIN: run as root, or grant CAP_SYS_ADMIN: AmbientCapabilities=CAP_SYS_ADMIN in the systemd unit, securityContext.capabilities.add: [SYS_ADMIN] in Kubernetes, or elsewhere sudo setcap cap_sys_admin+ep $(command -v arpdoctor)"},
	} {
		// As Main prints it: withHint must add nothing more.
		if got := withHint(exporterStartError(tc.err)); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

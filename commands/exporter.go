package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arpdoctor/arpdoctor/exporter"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/cobra"
)

// defaultExporterAddress is the exporter's port: 9877 was unallocated in
// Prometheus's list of default port allocations (9876 is Sachet's).
const defaultExporterAddress = ":9877"

// minRediscoverInterval bounds the cost of --all-netns: each round opens
// every namespace of the machine once.
const minRediscoverInterval = 5 * time.Second

// minVerifyInterval keeps active verification a background trickle: each
// round sends an ARP request or neighbor solicitation per entry probed.
const minVerifyInterval = 10 * time.Second

type exporterOptions struct {
	*globalOptions
	Profile          string
	TraceInterfaces  []string
	VerifyInterval   time.Duration
	VerifyMaxEntries int
	MaxInterfaces    int
	MaxNetNS         int
	RediscoverEvery  time.Duration
	ListenAddresses  []string
	TelemetryPath    string
	WebConfigFile    string
	LogLevel         string
	LogFormat        string

	level slog.Level
}

func newExporterCmd(g *globalOptions, runF func(context.Context, *exporterOptions) error) *cobra.Command {
	if runF == nil {
		runF = runExporter
	}
	o := &exporterOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Export the neighbor cache's health to Prometheus, continuously",
		Long: `Serve Prometheus metrics about the neighbor cache, measured continuously:
entries by state, the kernel's table and counters, whether the settings
keep the rules of --profile, and the kernel's neighbor events (mac_changed,
flip_flop, failed) followed over netlink as they happen.

Opt-in detectors find the stale entry before users do:
  --trace-interface IF   trace TCP handshakes and ARP/NDP on IF passively,
                         as 'arpdoctor trace -i IF' does, and count its
                         findings (synack_to_wrong_mac, ...); repeatable.
                         auto is the interface of the default route (IPv4,
                         else IPv6), chosen at the start and logged
  --verify-interval D    every D, probe the entries in use (REACHABLE,
                         STALE, DELAY, PROBE), at most --verify-max-entries
                         a round, as 'arpdoctor verify' does

Metric labels carry no IP or MAC. Each finding, with its IP and both MACs,
is one log line on stderr and is kept among the recent findings served as
JSON at /findings. docs/exporter.md lists every metric.

--web.config.file takes the exporter-toolkit's web configuration (TLS,
basic auth). With --netns the exporter reads that network namespace and
listens in its own. With --all-netns it reads its own namespace as without
it, and every --rediscover-interval also finds every network namespace of
the machine (under --proc-root) and counts each one's entries by state,
labelled with its pod, container or name: the --max-netns namespaces with
the most STALE, INCOMPLETE or FAILED entries get series of their own, the
rest are summed into netns="other".`,
		Example: `  arpdoctor exporter
  arpdoctor exporter --trace-interface eth0 --verify-interval 5m
  arpdoctor --netns blue exporter --web.listen-address 127.0.0.1:9877 --log.format json
  arpdoctor --all-netns --proc-root /host/proc exporter --trace-interface auto`,
		Args:        cobra.NoArgs,
		Annotations: noOutput(allNetNS(map[string]string{}), "serves metrics over HTTP"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.checkExporterInput(); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			if err := o.checkFlagPairs(cmd); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.Profile = exporter.DefaultProfile
	f.Var(namedValue{&o.Profile, "PROFILE"}, "profile", "export the rules of this sysctl profile: cloud, kubernetes or none")
	f.Var(&namedList{p: &o.TraceInterfaces, name: "INTERFACE"}, "trace-interface", "trace handshakes and ARP/NDP passively on this interface, or on the default route's with auto (repeatable; needs CAP_NET_RAW)")
	f.DurationVar(&o.VerifyInterval, "verify-interval", 0, "probe the entries in use this often (at least 10s; 0 turns it off; needs CAP_NET_RAW)")
	f.IntVar(&o.VerifyMaxEntries, "verify-max-entries", exporter.DefaultVerifyMaxEntries, "probe at most this many entries a round; a larger table is covered in turn")
	f.IntVar(&o.MaxInterfaces, "max-interfaces", exporter.DefaultMaxInterfaces, `give this many interfaces series of their own in each metric, the rest interface="other"; 0 for every interface`)
	f.IntVar(&o.MaxNetNS, "max-netns", exporter.DefaultMaxNetNS, "with --all-netns, give this many namespaces series of their own, the rest netns=\"other\"; 0 for every namespace with something to report")
	f.DurationVar(&o.RediscoverEvery, "rediscover-interval", exporter.DefaultNetNSInterval, "with --all-netns, find and read every namespace this often (at least 5s)")
	o.ListenAddresses = []string{defaultExporterAddress}
	f.Var(&namedList{p: &o.ListenAddresses, name: "ADDRESS"}, "web.listen-address", "listen on this address (repeatable)")
	o.TelemetryPath = "/metrics"
	f.Var(namedValue{&o.TelemetryPath, "PATH"}, "web.telemetry-path", "serve the metrics at this path")
	f.Var(namedValue{&o.WebConfigFile, "FILE"}, "web.config.file", "web configuration file for TLS and basic auth (the exporter-toolkit's format)")
	o.LogLevel, o.LogFormat = "info", "logfmt"
	f.Var(namedValue{&o.LogLevel, "LEVEL"}, "log.level", "log level: debug, info, warn or error")
	f.Var(namedValue{&o.LogFormat, "FORMAT"}, "log.format", "log format: logfmt or json")
	return cmd
}

func (o *exporterOptions) validate() error {
	if _, err := sysctl.Profile(o.Profile); err != nil {
		return &FlagError{Err: fmt.Errorf("--profile: %w", err)}
	}
	for _, ifname := range o.TraceInterfaces {
		if ifname == "" || strings.ContainsAny(ifname, "/ ") || len(ifname) > 15 {
			return flagErrorf("--trace-interface %q: not an interface name", ifname)
		}
	}
	switch {
	case o.VerifyInterval < 0 || (o.VerifyInterval > 0 && o.VerifyInterval < minVerifyInterval):
		return flagErrorf("--verify-interval %s: want 0 (off) or at least %s", o.VerifyInterval, minVerifyInterval)
	case o.VerifyMaxEntries < 1:
		return flagErrorf("--verify-max-entries must be at least 1")
	case o.MaxInterfaces < 0:
		return flagErrorf("--max-interfaces must not be negative")
	case o.MaxNetNS < 0:
		return flagErrorf("--max-netns must not be negative")
	case o.RediscoverEvery < minRediscoverInterval:
		return flagErrorf("--rediscover-interval %s: want at least %s", o.RediscoverEvery, minRediscoverInterval)
	case len(o.ListenAddresses) == 0:
		return flagErrorf("--web.listen-address: give an address to listen on")
	case !strings.HasPrefix(o.TelemetryPath, "/") || o.TelemetryPath == "/" || o.TelemetryPath == exporter.FindingsPath:
		return flagErrorf("--web.telemetry-path %q: want a path such as /metrics, not / or %s", o.TelemetryPath, exporter.FindingsPath)
	}
	for _, a := range o.ListenAddresses {
		if err := checkListenAddress(a); err != nil {
			return &FlagError{Err: fmt.Errorf("--web.listen-address %q: %w", a, err)}
		}
	}
	if err := o.level.UnmarshalText([]byte(o.LogLevel)); err != nil || !strings.EqualFold(o.LogLevel, o.level.String()) {
		return flagErrorf("--log.level %q: want debug, info, warn or error", o.LogLevel)
	}
	if o.LogFormat != "logfmt" && o.LogFormat != "json" {
		return flagErrorf("--log.format %q: want logfmt or json", o.LogFormat)
	}
	if err := checkConfigFile(o.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err)
	}
	if err := web.Validate(o.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err)
	}
	return nil
}

// maxWebConfig bounds the web configuration file: a few kilobytes of YAML
// in practice.
const maxWebConfig = 1 << 20

// checkConfigFile refuses what exporter-toolkit would read without end or
// block on: a device such as /dev/zero, a FIFO, a huge file.
func checkConfigFile(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file")
	case fi.Size() > maxWebConfig:
		return fmt.Errorf("%d bytes, more than a web configuration holds (%d at most)", fi.Size(), maxWebConfig)
	}
	return nil
}

// checkListenAddress says whether a is HOST:PORT with a port number.
func checkListenAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return errors.New("want HOST:PORT or :PORT")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("host %q is not a host name or address", host)
	}
	return nil
}

func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// discoverForExporter finds the namespaces for --all-netns through the
// commands' discovery seam, so that tests restrict it to their lab.
func (o *exporterOptions) discoverForExporter(ctx context.Context) ([]exporter.NetNS, error) {
	targets, _, err := o.discover(ctx, o.ProcRoot)
	if err != nil {
		return nil, err
	}
	out := make([]exporter.NetNS, len(targets))
	for i, t := range targets {
		out[i] = exporter.NetNS{Label: exporter.NetNSLabel(&t.ns), Path: t.ns.Path, Open: func() (exporter.NetNSTable, error) { return t.open() }}
	}
	return out, nil
}

// autoInterface is the --trace-interface value that stands for the
// interface of the namespace's default route.
const autoInterface = "auto"

// traceInterfaces resolves --trace-interface auto to the interface of the
// default route of the namespace read (IPv4, else IPv6), as doctor picks
// the interface it traces: one DaemonSet then fits nodes whose interface
// is eth0, ens5 or anything else. chosen is that interface, "" when auto
// was not asked for.
func (o *exporterOptions) traceInterfaces() (ifnames []string, chosen string, err error) {
	if !slices.Contains(o.TraceInterfaces, autoInterface) {
		return o.TraceInterfaces, "", nil
	}
	c, err := o.openNeigh(o.NetNS)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	chosen, err = c.DefaultRouteInterface()
	switch {
	case errors.Is(err, neigh.ErrNoDefaultRoute):
		where := "this network namespace"
		if o.NetNS != "" {
			where = "network namespace " + escape(o.NetNS)
		}
		return nil, "", flagErrorf("--trace-interface auto: %s has no default route; name the interface to trace", where)
	case err != nil:
		return nil, "", fmt.Errorf("--trace-interface auto: %w", err)
	}
	for _, ifname := range o.TraceInterfaces {
		if ifname == autoInterface {
			ifname = chosen
		}
		if !slices.Contains(ifnames, ifname) {
			ifnames = append(ifnames, ifname)
		}
	}
	return ifnames, chosen, nil
}

// exporterPrivilegeHint says how to give the exporter a capability where
// it runs: the shipped systemd unit and DaemonSet forbid gaining
// privileges (NoNewPrivileges, allowPrivilegeEscalation: false), which
// makes the kernel ignore the file capabilities setcap gives.
func exporterPrivilegeHint(capability string) string {
	name := strings.TrimPrefix(capability, "CAP_")
	return fmt.Sprintf("run as root, or grant %s: AmbientCapabilities=%s in the systemd unit, securityContext.capabilities.add: [%s] in Kubernetes, or elsewhere sudo setcap %s+ep $(command -v arpdoctor)",
		capability, capability, name, strings.ToLower(capability))
}

// startFlags name the flag that asked for each collector that may fail to
// start.
var startFlags = map[string]string{
	exporter.CollectorHandshake: "--trace-interface",
	exporter.CollectorVerify:    "--verify-interval",
	exporter.CollectorNetNS:     "--all-netns",
}

// exporterStartError words what kept the exporter from starting: the flag
// that asked for it, and how to grant a missing capability. A bad
// interface is a usage mistake (the help is named); the rest is trouble
// all the same, exit 2.
func exporterStartError(err error) error {
	var se *exporter.StartError
	prefix := ""
	if errors.As(err, &se) {
		prefix = startFlags[se.Collector] + ": "
	}
	if ie := (*neigh.InterfaceError)(nil); errors.As(err, &ie) {
		return &FlagError{Err: fmt.Errorf("%s%w", prefix, err)}
	}
	if pe := (*neigh.PrivilegeError)(nil); errors.As(err, &pe) {
		// Not wrapped: the hint of every other command, setcap alone,
		// would follow it.
		return fmt.Errorf("%s%s: %s", prefix, err, exporterPrivilegeHint(pe.Cap))
	}
	if prefix != "" {
		return fmt.Errorf("%s%w", prefix, err)
	}
	return err
}

func runExporter(ctx context.Context, o *exporterOptions) error {
	// A daemon outlives the reader of its log: with SIGPIPE taken, a
	// write to a pipe nobody reads fails (and the log counts the lines it
	// drops) rather than killing the exporter.
	defer keepPipeSignal()()
	logger, flushLog := newExporterLogger(o.io.ErrOut, o.level, o.LogFormat)
	defer flushLog()
	defer onHangup(func() { logger.Info(hangupNote) })()
	traced, chosen, err := o.traceInterfaces()
	if err != nil {
		return exporterStartError(err)
	}
	if chosen != "" {
		logger.Info("tracing the interface of the default route", "trace_interface", "auto", "interface", chosen)
	}
	v := Version()
	maxIf := o.MaxInterfaces
	if maxIf == 0 {
		maxIf = -1
	}
	maxNetNS := o.MaxNetNS
	if maxNetNS == 0 {
		maxNetNS = -1
	}
	e, err := exporter.Open(exporter.Config{
		AllNetNS:         o.AllNetNS,
		Discover:         o.discoverForExporter,
		NetNSInterval:    o.RediscoverEvery,
		MaxNetNS:         maxNetNS,
		NetNS:            o.NetNS,
		Profile:          o.Profile,
		TraceInterfaces:  traced,
		VerifyInterval:   o.VerifyInterval,
		VerifyMaxEntries: o.VerifyMaxEntries,
		MaxInterfaces:    maxIf,
		Version:          v.Version,
		Revision:         v.Commit,
		Logger:           logger,
	})
	if err != nil {
		return exporterStartError(err)
	}
	defer e.Close()
	err = exporter.Serve(ctx, e, exporter.ServeOptions{
		Addresses:     o.ListenAddresses,
		TelemetryPath: o.TelemetryPath,
		WebConfigFile: o.WebConfigFile,
		Version:       v.Version,
		Logger:        logger,
	})
	if le := (*exporter.ListenError)(nil); errors.As(err, &le) {
		return fmt.Errorf("--web.listen-address %s: %w", le.Address, le.Err)
	}
	return err
}

// keepPipeSignal takes SIGPIPE until the returned func runs: Go then lets
// a write to a broken pipe on stdout or stderr fail with EPIPE instead of
// ending the process.
func keepPipeSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

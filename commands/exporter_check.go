package commands

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/arpdoctor/arpdoctor/exporter"
	"github.com/spf13/cobra"
)

// checkExporterInput checks what the exporter's validate leaves open: the
// exact log levels,
// the telemetry path, --proc-root, and the files the web configuration
// names. It runs first, so that nothing it refuses is ever opened.
func (o *exporterOptions) checkExporterInput() error {
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return flagErrorf("--log.level %q: want debug, info, warn or error", o.LogLevel)
	}
	if err := checkTelemetryPath(o.TelemetryPath); err != nil {
		return &FlagError{Err: fmt.Errorf("--web.telemetry-path %s: %w", strconv.Quote(o.TelemetryPath), err)}
	}
	if o.AllNetNS {
		if err := checkProcRoot(o.ProcRoot); err != nil {
			return fmt.Errorf("--proc-root %s: %w", o.ProcRoot, err)
		}
	}
	if err := exporter.CheckWebConfig(o.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err)
	}
	return nil
}

// checkFlagPairs refuses, alike, the flags given that mean nothing without
// another: silently ignoring one would leave its user believing it acts.
func (o *exporterOptions) checkFlagPairs(cmd *cobra.Command) error {
	changed := func(name string) bool { return cmd.Flags().Changed(name) }
	switch {
	case changed("max-netns") && !o.AllNetNS:
		return flagErrorf("--max-netns needs --all-netns")
	case changed("rediscover-interval") && !o.AllNetNS:
		return flagErrorf("--rediscover-interval needs --all-netns")
	case changed("verify-max-entries") && o.VerifyInterval == 0:
		return flagErrorf("--verify-max-entries needs --verify-interval")
	}
	return nil
}

// checkTelemetryPath accepts a plain path: segments of the characters URLs
// leave unreserved, so that net/http's pattern syntax ({name}, a trailing
// slash for a subtree, spaces) never reads it as anything but itself, and
// nothing in it needs escaping where the landing page shows it. It must
// not be "/" (the landing page) nor the findings' path or under it.
func checkTelemetryPath(p string) error {
	want := errors.New("want a plain path such as /metrics: segments of letters, digits, '-', '.', '_' and '~'")
	if !strings.HasPrefix(p, "/") || p == "/" {
		return want
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return want
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				return want
			}
		}
	}
	if p == exporter.FindingsPath || strings.HasPrefix(p, exporter.FindingsPath+"/") {
		return fmt.Errorf("%s is where the findings are served", exporter.FindingsPath)
	}
	return nil
}

// checkProcRoot says whether root looks like a proc filesystem: a
// directory that can be listed and holds processes. The other commands
// fail on the first discovery; the exporter discovers in the background,
// so it checks at its start instead of serving a round that finds nothing,
// not even the machine's own namespace.
func checkProcRoot(root string) error {
	// Stat first: opening a FIFO would block.
	if fi, err := os.Stat(root); err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return pe.Err
		}
		return err
	} else if !fi.IsDir() {
		return errors.New("not a directory")
	}
	f, err := os.Open(root)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
				return nil
			}
		}
		if err != nil {
			return errors.New("holds no process directories: not a proc filesystem")
		}
	}
}

// hangupNote is what the exporter logs at SIGHUP, the usual signal to
// reload: it stops nothing, since a supervisor that restarts only on
// failure would not start it again.
const hangupNote = "SIGHUP: nothing to reload, the web configuration is read again on every request"

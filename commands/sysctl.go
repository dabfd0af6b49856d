package commands

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

func newSysctlCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sysctl",
		Short: "Check and fix the settings behind stale entries and table overflows",
		Long: `The kernel settings that decide how long neighbor entries live and how many
the table holds: net.ipv4/ipv6.neigh.default.gc_thresh1..3 and the rest of
the neighbor parameters, the ARP settings of net.ipv4.conf and IPv6's
ndisc_notify.

'check' judges them against a profile and your own rules, live or as the
config files will set them at boot; 'fix' writes a config file that keeps
the profile's rules and sets the values live. The rules, profiles and
policy files are described in docs/sysctl.md.`,
		// A group runs nothing itself, but a mistyped subcommand must be
		// an error, not help and success.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownSubcommand(cmd, args[0])
		},
	}
	cmd.AddCommand(newSysctlCheckCmd(g, nil), newSysctlFixCmd(g, nil))
	return cmd
}

// unknownSubcommand says name is no subcommand of cmd, and what it may
// have meant, as cobra says it of the top level.
func unknownSubcommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", strings.Join(s, `" or "`))
	}
	return flagErrorf("%s", msg)
}

func checkRoot(root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return &FlagError{Err: fmt.Errorf("--root: %w", err)}
	}
	if !fi.IsDir() {
		return flagErrorf("--root %s is not a directory", root)
	}
	return nil
}

// hinted is a library error with advice in the command's terms added.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() + e.hint }
func (e *hinted) Unwrap() error { return e.err }

// sysctlHint words the advice for the sysctl library's errors, naming
// the flags that help.
func sysctlHint(err error, cmd string) error {
	var (
		np *sysctl.NoProcSysError
		fw *sysctl.FileWriteError
		lw *sysctl.LiveWriteError
	)
	switch {
	case errors.As(err, &np) && cmd == "fix":
		return &hinted{err, " (to write only the tree's config file, add --no-apply)"}
	case errors.As(err, &np):
		return &hinted{err, " (to check the tree's config files, add --config)"}
	case errors.As(err, &fw) && sysctl.IsPermission(err):
		return &hinted{err, ": run as root, or use --root for an image's tree"}
	case errors.As(err, &lw) && sysctl.IsPermission(err):
		return &hinted{err, ": needs root (CAP_NET_ADMIN) and a writable /proc/sys; run as root, or pass --no-apply"}
	}
	return err
}

// openRunningFunc connects to the kernel of a network namespace for its
// running values under root; close releases it.
type openRunningFunc func(netns, root string) (src sysctl.Running, close func() error, err error)

// openRunning reads /proc/sys from a thread inside the namespace and asks
// netlink in the same namespace, through the neighbor-table seam.
func (g *globalOptions) openRunning(netns, root string) (sysctl.Running, func() error, error) {
	c, err := g.openNeigh(netns)
	if err != nil {
		return sysctl.Running{}, nil, err
	}
	return sysctl.Running{Root: root, Do: c.Do, Kernel: c}, c.Close, nil
}

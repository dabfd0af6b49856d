package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/spf13/cobra"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	io *IOStreams
	// NetNS is the network namespace to work in: a name under /run/netns
	// (as `ip -n` takes it) or a path such as /proc/PID/ns/net.
	NetNS string
	// Output is the output format: table, wide, json (and what a command
	// adds).
	Output string
	// Color is auto, always or never.
	Color string
	// color is Color resolved against the terminal and the environment.
	color bool
	// NoHeaders leaves tables without their header line.
	NoHeaders bool
	// AllNetNS covers every network namespace of the machine.
	AllNetNS bool
	// ProcRoot is where the machine's /proc is, for --all-netns.
	ProcRoot string
	seams
	// privs are the process's privileges, read once, by whichever
	// goroutine first suggests a command.
	privsOnce sync.Once
	privs     privileges
}

// seams are how commands reach the kernel; tests replace them.
type seams struct {
	openNeigh   func(netns string) (neighClient, error)
	openCapture func(netns, ifname string, f capture.Filter) (*liveCapture, error)
	discover    func(ctx context.Context, procRoot string) ([]netnsTarget, []namespaces.Note, error)
	// readPrivileges says what the process may do, for the sudo of the
	// commands it suggests; nil counts as every privilege.
	readPrivileges func() privileges
}

func kernelSeams() seams {
	return seams{openNeigh: openNeigh, openCapture: openLiveCapture, discover: discoverNetNS, readPrivileges: currentPrivileges}
}

const allNetNSAnnotation = "arpdoctor/all-netns"

// allNetNS marks a command that takes --all-netns.
func allNetNS(a map[string]string) map[string]string {
	a[allNetNSAnnotation] = "yes"
	return a
}

const outputsAnnotation = "arpdoctor/outputs"

const noOutputAnnotation = "arpdoctor/no-output"

// noOutput marks a command that prints no result at all, saying what it
// does instead ("serves metrics over HTTP"): -o means nothing to it.
func noOutput(a map[string]string, instead string) map[string]string {
	a[noOutputAnnotation] = instead
	return a
}

// outputs declares the output formats a command supports; the first is its
// default.
func outputs(formats ...string) map[string]string {
	return map[string]string{outputsAnnotation: strings.Join(formats, ",")}
}

// NewRootCmd builds the arpdoctor command tree writing to ios.
func NewRootCmd(ios *IOStreams) *cobra.Command { return newRootCmd(ios, kernelSeams()) }

func newRootCmd(ios *IOStreams, s seams) *cobra.Command {
	g := &globalOptions{io: ios, seams: s}
	root := &cobra.Command{
		Use:   "arpdoctor",
		Short: "Diagnose and fix Linux ARP and neighbor-cache problems",
		Long: `arpdoctor finds the neighbor-cache (ARP and NDP) problems behind "it just
can't connect": stale entries that send replies to a MAC that no longer
owns the IP, settings that keep such entries alive, tables that overflow.

Every command takes --netns to work in another network namespace without
moving the process, -o to choose the output, and --color.

Exit codes: 0 healthy or done, 1 problems found, 2 trouble (bad usage, bad
input, missing privilege, missing interface).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.resolve(cmd)
		},
	}
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetIn(ios.In)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// "sysctl chek --config": the word before the flag is the
		// mistake, as without the flag.
		if args := c.Flags().Args(); c.HasAvailableSubCommands() && len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		return &FlagError{Err: err}
	})

	pf := root.PersistentFlags()
	pf.Var(namedValue{&g.NetNS, "NAME|PATH"}, "netns", "work in this network namespace: a name under /run/netns (as ip -n takes it) or a path such as /proc/PID/ns/net")
	pf.VarP(namedValue{&g.Output, "FORMAT"}, "output", "o", "output format: table by default; each command's help lists the ones it prints")
	g.Color = "auto"
	pf.Var(namedValue{&g.Color, "WHEN"}, "color", "color: auto (on a terminal, unless NO_COLOR is set), always or never")
	pf.BoolVar(&g.NoHeaders, "no-headers", false, "print tables without their header line, for scripts")
	pf.BoolVarP(&g.AllNetNS, "all-netns", "A", false, "every network namespace of the machine, each attributed to its container or pod (neigh, verify, flush, watch, doctor, exporter)")
	g.ProcRoot = "/proc"
	pf.Var(namedValue{&g.ProcRoot, "PATH"}, "proc-root", "where the machine's /proc is, for --all-netns (from a container: the node's, e.g. /host/proc)")

	root.AddCommand(
		newNeighCmd(g, nil),
		newWatchCmd(g, nil),
		newVerifyCmd(g, nil),
		newFlushCmd(g, nil),
		newDoctorCmd(g, nil),
		newTraceCmd(g),
		newExporterCmd(g, nil),
		newSysctlCmd(g),
		newVersionCmd(g),
	)
	registerCompletions(root, g)
	describeOutputs(root)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			// A group given a word that names none of its commands:
			// an error with a suggestion, as at the top, not its help.
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return unknownCommand(c, args[0])
				}
				return c.Help()
			}
		}
	}
	return root
}

// commandName is a command's path without the program's name, for
// messages that the program's name already begins.
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// summaryOut is where a command writes the lines around its table
// (summaries, notes): stdout on a terminal, stderr in a pipe, so that
// what a script reads is rows only.
func (g *globalOptions) summaryOut() io.Writer {
	if g.io.OutTTY {
		return g.io.Out
	}
	return g.io.ErrOut
}

// tableStyle is how this run prints tables.
func (g *globalOptions) tableStyle() tableStyle {
	return tableStyle{noHeaders: g.NoHeaders, p: palette{on: g.color}, width: g.termWidth()}
}

// termWidth is the width of the terminal Out writes to, 0 when it is not
// one: long lines wrap on a terminal, never in a pipe.
func (g *globalOptions) termWidth() int {
	if g.io.Term == nil {
		return 0
	}
	w, _, err := g.io.Term.size()
	if err != nil {
		return 0
	}
	return w
}

// resolve checks the global flags against the command being run.
func (g *globalOptions) resolve(cmd *cobra.Command) error {
	if instead := cmd.Annotations[noOutputAnnotation]; instead != "" {
		if g.Output != "" {
			return flagErrorf("%s %s and takes no -o", commandName(cmd), instead)
		}
		return g.resolveRest(cmd)
	}
	formats := strings.Split(cmd.Annotations[outputsAnnotation], ",")
	if formats[0] == "" {
		formats = []string{"table"}
	}
	if g.Output == "" {
		g.Output = formats[0]
	}
	if !slices.Contains(formats, g.Output) {
		return flagErrorf("%s does not print -o %s (want %s)", commandName(cmd), g.Output, strings.Join(formats, ", "))
	}
	return g.resolveRest(cmd)
}

// resolveRest checks the global flags other than -o.
func (g *globalOptions) resolveRest(cmd *cobra.Command) error {
	// An empty --netns would mean the current namespace: a script whose
	// variable came out empty must not act on the host.
	if f := cmd.Flags().Lookup("netns"); f != nil && f.Changed && g.NetNS == "" {
		return flagErrorf("--netns needs a name or a path; leave it out for the current namespace")
	}
	if g.AllNetNS {
		if cmd.Annotations[allNetNSAnnotation] == "" {
			return flagErrorf("%s does not take --all-netns", commandName(cmd))
		}
		if g.NetNS != "" {
			return flagErrorf("--netns and --all-netns exclude each other")
		}
	}
	switch g.Color {
	case "always":
		g.color = true
	case "never":
		g.color = false
	case "auto":
		g.color = g.io.OutTTY && g.io.Getenv("NO_COLOR") == "" && g.io.Getenv("TERM") != "dumb"
	default:
		return flagErrorf("invalid --color %q (want auto, always or never)", g.Color)
	}
	return nil
}

// Main runs the command line args and returns the exit code. Errors are
// printed here, once, on one line.
func Main(ctx context.Context, ios *IOStreams, args []string) int {
	return runUntilStopped(ctx, func(msg string) { fmt.Fprintf(ios.ErrOut, "arpdoctor: %s\n", msg) }, func() int {
		return mainWith(ctx, ios, kernelSeams(), args)
	})
}

func mainWith(ctx context.Context, ios *IOStreams, s seams, args []string) int {
	root := newRootCmd(ios, s)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var se *silentError
	if err == nil || errors.Is(err, ErrProblems) || errors.As(err, &se) {
		return exitCode(err)
	}
	// Errors quote names from outside (interfaces, files, namespaces):
	// escaped, as everything printed is.
	msg := escape(cobraSuggestion.ReplaceAllString(withHint(err), `; did you mean "$1"?`))
	var fe *FlagError
	if errors.As(err, &fe) || isUsageError(err) {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(ios.ErrOut, "arpdoctor: %s\n", msg)
	return exitCode(err)
}

// cobraSuggestion is how cobra words a suggestion, folded onto one line.
var cobraSuggestion = regexp.MustCompile(` Did you mean this\? (\S+)`)

// isUsageError recognises the argument errors cobra makes itself.
func isUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") ||
		strings.Contains(msg, "arg(s)")
}

// unknownCommand is cobra's own error for a word that names no
// subcommand, with its suggestions.
func unknownCommand(c *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // as cobra's own suggestions
	}
	if s := c.SuggestionsFor(word); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &FlagError{Err: errors.New(msg)}
}

// describeOutputs ends each command's help with the output formats it
// prints, the first being its default.
func describeOutputs(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if a := c.Annotations[outputsAnnotation]; a != "" && c.Long != "" {
			formats := strings.Split(a, ",")
			formats[0] += " (the default)"
			c.Long += "\n\nOutput formats (-o): " + strings.Join(formats, ", ") + "."
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

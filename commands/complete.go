package commands

import (
	"os"
	"slices"
	"strings"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// namedNetNSDir is where `ip netns add` puts the namespaces that --netns
// takes by name.
const namedNetNSDir = "/run/netns"

// registerCompletions gives the flags that take a value from a known set
// their candidates, on every command that has such a flag: a flag keeps
// its name wherever it appears, so its completion goes by the name.
func registerCompletions(root *cobra.Command, g *globalOptions) {
	byName := map[string]cobra.CompletionFunc{
		"netns":     completeNetNS,
		"interface": g.completeInterface,
		"ip":        g.completeIP,
		"state":     completeStates,
		"profile":   completeProfile,
		"output":    completeOutput,
		"color":     fixedCompletion("auto", "always", "never"),
	}
	seen := map[*pflag.Flag]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.Flags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				fn, ok := byName[f.Name]
				if !ok || seen[f] {
					return
				}
				seen[f] = true
				// The only error is a second registration, which seen
				// rules out.
				_ = c.RegisterFlagCompletionFunc(f.Name, fn)
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func fixedCompletion(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func withPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// completeNetNS lists the named namespaces, as `ip -n` completes them; a
// path (/proc/PID/ns/net) completes as a file.
func completeNetNS(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if strings.HasPrefix(toComplete, "/") || strings.HasPrefix(toComplete, ".") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	des, err := os.ReadDir(namedNetNSDir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// interfaceLister is what a neighbor client offers beyond the commands'
// seam: *neigh.Client lists the interfaces of its namespace.
type interfaceLister interface {
	Interfaces() ([]neigh.Interface, error)
}

// completeInterface lists the interfaces of the namespace chosen earlier
// on the line with --netns, or of the current one.
func (g *globalOptions) completeInterface(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := g.openNeigh(g.NetNS)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	il, ok := c.(interfaceLister)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ifs, err := il.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeIP lists the IPs in the neighbor cache of the chosen namespace,
// on the interface chosen with -i when one was.
func (g *globalOptions) completeIP(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := g.openNeigh(g.NetNS)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	var f neigh.Filter
	if fl := cmd.Flags().Lookup("interface"); fl != nil && fl.Changed {
		f.Interface = fl.Value.String()
	}
	entries, err := c.List(f)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var ips []string
	for _, e := range entries {
		if ip := e.IP.String(); !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return withPrefix(ips, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeStates completes the last item of a comma-separated list of
// states, leaving out those already given.
func completeStates(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	head, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		head, last = toComplete[:i+1], toComplete[i+1:]
	}
	given := strings.Split(strings.ToLower(head), ",")
	var out []string
	if head == "" {
		out = withPrefix([]string{"all"}, strings.ToLower(last))
	}
	for _, name := range neigh.StateNames() {
		name = strings.ToLower(name)
		if strings.HasPrefix(name, strings.ToLower(last)) && !slices.Contains(given, name) {
			out = append(out, head+name)
		}
	}
	// No space after a state: another may follow after a comma.
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeProfile offers the built-in profiles; fix writes values, so
// "none", which has no rules, is not one of its.
func completeProfile(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, p := range sysctl.Profiles() {
		if cmd.Name() == "fix" && p.Name == "none" {
			continue
		}
		if strings.HasPrefix(p.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(p.Name, p.Summary))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeOutput offers the formats the command declares.
func completeOutput(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if cmd.Annotations[noOutputAnnotation] != "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	formats := []string{"table"}
	if a := cmd.Annotations[outputsAnnotation]; a != "" {
		formats = strings.Split(a, ",")
	}
	return withPrefix(formats, toComplete), cobra.ShellCompDirectiveNoFileComp
}

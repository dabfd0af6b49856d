package commands

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// privileges are what this process may do, to tell whether a command it
// suggests needs sudo.
type privileges struct {
	// root says the effective user is root, who owns /etc and /proc/sys.
	root bool
	// caps are the effective capabilities, by name (CAP_NET_RAW, ...).
	caps map[string]bool
}

// The capability bits of CapEff in /proc/self/status, from
// linux/capability.h.
var capBits = map[string]uint{neigh.CapNetAdmin: 12, neigh.CapNetRaw: 13, neigh.CapSysAdmin: 21}

// currentPrivileges reads the process's effective user and capabilities.
// A status that cannot be read counts as no capability: the worst a wrong
// guess does is a sudo too many.
func currentPrivileges() privileges {
	p := privileges{root: os.Geteuid() == 0, caps: map[string]bool{}}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return p
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			break
		}
		for name, bit := range capBits {
			p.caps[name] = mask&(1<<bit) != 0
		}
	}
	return p
}

// allPrivileges are a process that lacks nothing: suggestions get no sudo.
func allPrivileges() privileges {
	p := privileges{root: true, caps: map[string]bool{}}
	for name := range capBits {
		p.caps[name] = true
	}
	return p
}

// needs says what running c takes: the capabilities, and whether it must
// be root (to write files root owns). It follows each command's help.
func needs(c diagnose.Command) (caps []string, root bool) {
	if c.NetNS != "" && !c.MachineWide {
		caps = append(caps, neigh.CapSysAdmin)
	}
	has := func(flags ...string) bool {
		return slices.ContainsFunc(c.Args, func(a string) bool {
			name, _, _ := strings.Cut(a, "=")
			return slices.Contains(flags, name)
		})
	}
	if len(c.Args) == 0 {
		return caps, false
	}
	switch c.Args[0] {
	case "verify":
		caps = append(caps, neigh.CapNetRaw)
		if has("--fix") {
			caps = append(caps, neigh.CapNetAdmin)
		}
	case "flush":
		if !has("--dry-run") {
			caps = append(caps, neigh.CapNetAdmin)
		}
	case "doctor":
		if !has("--passive") {
			caps = append(caps, neigh.CapNetRaw)
		}
	case "trace":
		if !has("-r", "--read") {
			caps = append(caps, neigh.CapNetRaw)
		}
	case "sysctl":
		// Writing sysctl.d and /proc/sys: files root owns.
		root = len(c.Args) > 1 && c.Args[1] == "fix" && !has("--dry-run")
	}
	return caps, root
}

// lacks says whether p cannot run c as it is.
func (p privileges) lacks(c diagnose.Command) bool {
	caps, root := needs(c)
	if root && !p.root {
		return true
	}
	return slices.ContainsFunc(caps, func(name string) bool { return !p.caps[name] })
}

// privileges are the process's, or all of them when the seams give none
// (tests with fakes, whose output must not depend on who runs them).
func (g *globalOptions) privileges() privileges {
	if g.readPrivileges == nil {
		return allPrivileges()
	}
	g.privsOnce.Do(func() { g.privs = g.readPrivileges() })
	return g.privs
}

// suggest returns the commands to show, with sudo on those that need what
// this process lacks: a line to paste that runs, not one that fails on a
// missing capability.
func (g *globalOptions) suggest(cs []diagnose.Command) []diagnose.Command {
	if len(cs) == 0 {
		return cs
	}
	p := g.privileges()
	out := make([]diagnose.Command, len(cs))
	for i, c := range cs {
		c.Sudo = c.Sudo || p.lacks(c)
		out[i] = c
	}
	return out
}

// suggestReport puts sudo on every command of rep that needs it.
func (g *globalOptions) suggestReport(rep *diagnose.Report) {
	for i := range rep.Checks {
		rep.Checks[i].Next = g.suggest(rep.Checks[i].Next)
	}
	if rep.Diagnosis != nil {
		rep.Diagnosis.Next = g.suggest(rep.Diagnosis.Next)
	}
	for i := range rep.Incomplete {
		if run := rep.Incomplete[i].Run; run != nil {
			c := g.suggest([]diagnose.Command{*run})[0]
			rep.Incomplete[i].Run = &c
		}
	}
}

package diagnose

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Command is an arpdoctor command line to run next.
type Command struct {
	// NetNS is the namespace the command runs in (--netns); "" for the
	// current one, and always "" for a MachineWide command.
	NetNS string
	// Args are the subcommand and its flags: ["flush", "--ip", "192.0.2.50"].
	Args []string
	// Sudo says it needs privileges the run that suggested it lacked.
	Sudo bool
	// MachineWide says it changes what every namespace of the machine
	// shares (gc_thresh1/2/3 are one table for all of them): run from a
	// namespace's diagnosis, it still changes the host.
	MachineWide bool
}

// In returns a command line that runs in namespace netns.
func In(netns string, args ...string) Command { return Command{NetNS: netns, Args: args} }

// MachineWide returns a command line that acts on the whole machine.
func MachineWide(args ...string) Command { return Command{Args: args, MachineWide: true} }

// String writes the command as a user types it.
func (c Command) String() string {
	var b strings.Builder
	if c.Sudo {
		b.WriteString("sudo ")
	}
	b.WriteString("arpdoctor")
	if c.NetNS != "" && !c.MachineWide {
		b.WriteString(" --netns ")
		b.WriteString(quoteArg(c.NetNS))
	}
	for _, a := range c.Args {
		b.WriteByte(' ')
		b.WriteString(quoteArg(a))
	}
	if c.MachineWide {
		b.WriteString("  # machine-wide: changes the host's settings for every namespace")
	}
	return b.String()
}

// MarshalText writes the command line, so that JSON carries it as a string.
func (c Command) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// quoteArg quotes an argument for a shell when it needs it, so that a
// suggested line can be pasted as it is. An argument with control
// characters (an interface named to drive a terminal) is written in
// bash's and zsh's $'...' form, whose escapes give back the real bytes
// and print as plain text.
func quoteArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@%+") == "" {
		return s
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError }) {
		var b strings.Builder
		b.WriteString("$'")
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' || c == '\'':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c >= 0x7f:
				fmt.Fprintf(&b, "\\x%02x", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteString("'")
		return b.String()
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

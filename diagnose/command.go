package diagnose

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// MachineWide says it runs on the host, whatever namespace was
	// diagnosed: the settings it reads or changes are the host's
	// (gc_thresh1/2/3 are one table for every namespace, and the host's
	// config files set them).
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
		if c.changes() {
			b.WriteString(hostChangeComment)
		} else {
			b.WriteString(hostReadComment)
		}
	}
	return b.String()
}

// The comments that mark a MachineWide command, as it changes the host's
// settings or only reads them.
const (
	hostChangeComment = "  # on the host: changes the host's settings"
	hostReadComment   = "  # on the host: reads the host's settings"
)

// changes says whether the command changes settings: a fix that is not a
// dry run.
func (c Command) changes() bool {
	return slices.Contains(c.Args, "fix") && !slices.Contains(c.Args, "--dry-run")
}

// MarshalText writes the command line, so that JSON carries it as a string.
func (c Command) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a command line as String writes it, so that a
// report or /findings read back in Go gives the commands again.
func (c *Command) UnmarshalText(text []byte) error {
	s := string(text)
	var out Command
	for _, comment := range []string{hostChangeComment, hostReadComment} {
		if rest, ok := strings.CutSuffix(s, comment); ok {
			s, out.MachineWide = rest, true
		}
	}
	if rest, ok := strings.CutPrefix(s, "sudo "); ok {
		s, out.Sudo = rest, true
	}
	words, err := splitWords(s)
	if err != nil {
		return fmt.Errorf("reading the command line %q: %w", text, err)
	}
	if len(words) == 0 || words[0] != "arpdoctor" {
		return fmt.Errorf("reading the command line %q: not an arpdoctor command", text)
	}
	words = words[1:]
	if len(words) >= 2 && words[0] == "--netns" && !out.MachineWide {
		out.NetNS, words = words[1], words[2:]
	}
	out.Args = words
	*c = out
	return nil
}

// splitWords splits a line into words as a shell does for the quoting
// quoteArg writes: bare words, '...' and $'...' with \\, \' and \xHH.
func splitWords(s string) ([]string, error) {
	var words []string
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		var w strings.Builder
		for i < len(s) && s[i] != ' ' {
			switch {
			case s[i] == '\'':
				end := strings.IndexByte(s[i+1:], '\'')
				if end < 0 {
					return nil, errors.New("unterminated quote")
				}
				w.WriteString(s[i+1 : i+1+end])
				i += end + 2
			case strings.HasPrefix(s[i:], "$'"):
				i += 2
				for {
					if i >= len(s) {
						return nil, errors.New("unterminated quote")
					}
					ch := s[i]
					if ch == '\'' {
						i++
						break
					}
					if ch != '\\' {
						w.WriteByte(ch)
						i++
						continue
					}
					if i+1 >= len(s) {
						return nil, errors.New("unterminated escape")
					}
					switch s[i+1] {
					case '\\', '\'':
						w.WriteByte(s[i+1])
						i += 2
					case 'x':
						if i+4 > len(s) {
							return nil, errors.New("short \\x escape")
						}
						b, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
						if err != nil {
							return nil, fmt.Errorf("bad \\x escape %q", s[i:i+4])
						}
						w.WriteByte(byte(b))
						i += 4
					default:
						return nil, fmt.Errorf("unknown escape \\%c", s[i+1])
					}
				}
			case s[i] == '\\':
				// quoteArg writes '\'' to put a quote inside quotes.
				if i+1 >= len(s) {
					return nil, errors.New("unterminated escape")
				}
				w.WriteByte(s[i+1])
				i += 2
			default:
				w.WriteByte(s[i])
				i++
			}
		}
		words = append(words, w.String())
	}
	return words, nil
}

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

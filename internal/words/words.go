// Package words holds the few rules of English that arpdoctor's messages
// share: plurals and one-line errors.
package words

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Plural returns one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count writes n and the noun that goes with it: "1 entry", "3 entries".
func Count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + Plural(n, one, many)
}

// OneLine folds a message onto one line: errors print once, as one line.
func OneLine(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}

// Escape makes text from outside safe to print on a terminal: control
// characters (an interface may be named "x\x1b[2J"), DEL, C1 controls
// and invalid UTF-8 are written as Go escapes.
func Escape(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\a':
			b.WriteString(`\a`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune says a rune would act on a terminal rather than show: C0 and
// C1 controls, DEL, and what is not UTF-8.
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError
}

// Package words holds the few rules of English that arpdoctor's messages
// share: plurals and one-line errors.
package words

import (
	"strconv"
	"strings"
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

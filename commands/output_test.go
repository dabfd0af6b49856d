package commands

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"eth0":                 "eth0",
		"x\x1b[2J\x1b[31m":     `x\x1b[2J\x1b[31m`,
		"bell\a":               `bell\a`,
		"del\x7f":              `del\x7f`,
		"c1\u009b31m":          `c1\u009b31m`,
		"bad\xff":              `bad\xff`,
		"Grüße, ümlaut":        "Grüße, ümlaut",
		"tab\tand\nnewline":    `tab\tand\nnewline`,
		"/etc/sysctl.d/a.conf": "/etc/sysctl.d/a.conf",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	line := "the quick brown fox jumps over the lazy dog and keeps on running"
	got := wrap(line, 30, 4)
	for i, l := range strings.Split(got, "\n") {
		if len(l) > 30 {
			t.Errorf("line %d is %d wide: %q", i, len(l), l)
		}
		if i > 0 && !strings.HasPrefix(l, "    ") {
			t.Errorf("continuation %d not indented: %q", i, l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != line {
		t.Errorf("words lost or changed: %q", got)
	}
	if wrap(line, 0, 4) != line {
		t.Error("width 0 (a pipe) wrapped")
	}
}

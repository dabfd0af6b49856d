package sysctl

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Key is a sysctl name in the form sysctl(8) prints: components joined
// with dots, a dot inside a component written as a slash
// ("net.ipv4.conf.eth0/200.arp_notify" is /proc/sys/net/ipv4/conf/eth0.200/arp_notify).
// A key may hold glob characters (* ? [) where config files and rules allow
// them.
type Key string

// ParseKey reads a key written either way sysctl.d(5) allows: when the first
// separator is a slash, slashes separate and dots are literal
// ("net/ipv4/conf/eth0.200/arp_notify"); otherwise dots separate and slashes
// stand for dots. Empty and "." components are dropped, as systemd-sysctl
// simplifies the path; ".." is refused, since it would leave /proc/sys.
func ParseKey(s string) (Key, error) {
	if s == "" {
		return "", errors.New("empty key")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("key %q holds a blank or control character", s)
		}
	}
	if isCanonical(s) {
		// The common case, a key written as it is printed: no copy.
		return Key(s), nil
	}
	sep, other := ".", "/"
	if i := strings.IndexAny(s, "./"); i >= 0 && s[i] == '/' {
		sep, other = "/", "."
	}
	var comps []string
	for c := range strings.SplitSeq(s, sep) {
		if sep == "." {
			c = strings.ReplaceAll(c, other, ".")
		}
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("key %q has a \"..\" component", s)
		}
		comps = append(comps, c)
	}
	if len(comps) == 0 {
		return "", fmt.Errorf("key %q names no setting", s)
	}
	if strings.Contains(comps[0], ".") {
		// The dotted form cannot say it, and no directory at the top of
		// /proc/sys has a dot in its name.
		return "", fmt.Errorf("key %q: no /proc/sys directory is named %q", s, comps[0])
	}
	if isGlob(s) {
		if _, err := path.Match(strings.Join(comps, "/"), ""); err != nil {
			return "", fmt.Errorf("key %q is not a valid glob pattern", s)
		}
	}
	return keyOf(comps...), nil
}

// isCanonical reports whether s is already a key as ParseKey would
// return it, with nothing to simplify or check further.
func isCanonical(s string) bool {
	return s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..") && !strings.ContainsAny(s, "/*?[")
}

// keyOf joins path components into a key.
func keyOf(comps ...string) Key {
	var b strings.Builder
	for i, c := range comps {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ReplaceAll(c, ".", "/"))
	}
	return Key(b.String())
}

// components splits the key into the components of its path.
func (k Key) components() []string {
	comps := strings.Split(string(k), ".")
	for i, c := range comps {
		comps[i] = strings.ReplaceAll(c, "/", ".")
	}
	return comps
}

// Path is the key's file under /proc/sys, relative to it.
func (k Key) Path() string { return strings.Join(k.components(), "/") }

// IsGlob reports whether the key is a pattern rather than one setting.
func (k Key) IsGlob() bool { return isGlob(string(k)) }

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// Matches reports whether the key, taken as a pattern, matches other. Like
// systemd-sysctl, which globs paths under /proc/sys, a wildcard never spans
// components.
func (k Key) Matches(other Key) bool {
	if !k.IsGlob() {
		return k == other
	}
	ok, err := path.Match(k.Path(), other.Path())
	return err == nil && ok
}

func (k Key) String() string { return string(k) }

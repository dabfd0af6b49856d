package sysctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in, want, path, err string
	}{
		{in: "net.ipv4.neigh.default.gc_thresh1", want: "net.ipv4.neigh.default.gc_thresh1", path: "net/ipv4/neigh/default/gc_thresh1"},
		{in: "net/ipv4/neigh/default/gc_thresh1", want: "net.ipv4.neigh.default.gc_thresh1", path: "net/ipv4/neigh/default/gc_thresh1"},
		// The two spellings sysctl.d(5) gives for a VLAN interface.
		{in: "net.ipv4.conf.enp3s0/200.forwarding", want: "net.ipv4.conf.enp3s0/200.forwarding", path: "net/ipv4/conf/enp3s0.200/forwarding"},
		{in: "net/ipv4/conf/enp3s0.200/forwarding", want: "net.ipv4.conf.enp3s0/200.forwarding", path: "net/ipv4/conf/enp3s0.200/forwarding"},
		// systemd-sysctl simplifies the path: empty and "." components go.
		{in: "/net//ipv4/./conf/all/arp_notify", want: "net.ipv4.conf.all.arp_notify", path: "net/ipv4/conf/all/arp_notify"},
		{in: "net..ipv4.conf.all.arp_notify", want: "net.ipv4.conf.all.arp_notify", path: "net/ipv4/conf/all/arp_notify"},
		{in: "kernel.sysrq", want: "kernel.sysrq", path: "kernel/sysrq"},
		{in: "net.ipv4.conf.*.rp_filter", want: "net.ipv4.conf.*.rp_filter", path: "net/ipv4/conf/*/rp_filter"},
		{in: "", err: "empty key"},
		{in: "net.ipv4 .conf", err: `key "net.ipv4 .conf" holds a blank or control character`},
		{in: "net/../kernel/sysrq", err: `key "net/../kernel/sysrq" has a ".." component`},
		// In the dotted form a slash is a dot inside a component, so this
		// is net/.kernel, not a way out.
		{in: "net./../kernel", want: "net./kernel", path: "net/.kernel"},
		{in: "..", err: `key ".." names no setting`},
		{in: "net.ipv4.conf.[eth.x", err: `key "net.ipv4.conf.[eth.x" is not a valid glob pattern`},
		{in: "a/b.c", want: "a.b/c", path: "a/b.c"},
		{in: "a.b/c.d", want: "a.b/c.d", path: "a/b.c/d"},
		{in: "/a.b/c", err: `key "/a.b/c": no /proc/sys directory is named "a.b"`},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseKey(%q) = %q, %v; want error %q", tt.in, k, err, tt.err)
			}
			continue
		}
		if err != nil || string(k) != tt.want || k.Path() != tt.path {
			t.Errorf("ParseKey(%q) = %q (path %q), %v; want %q (path %q)", tt.in, k, k.Path(), err, tt.want, tt.path)
		}
	}
}

func TestKeyMatches(t *testing.T) {
	glob := Key("net.ipv4.conf.*.arp_notify")
	for k, want := range map[Key]bool{
		"net.ipv4.conf.eth0.arp_notify":     true,
		"net.ipv4.conf.eth0/200.arp_notify": true, // one component: eth0.200
		"net.ipv4.conf.all.arp_accept":      false,
		"net.ipv4.conf.a.b.arp_notify":      false, // a wildcard spans no component
	} {
		if got := glob.Matches(k); got != want {
			t.Errorf("%s matches %s = %v, want %v", glob, k, got, want)
		}
	}
	if !Key("kernel.sysrq").Matches("kernel.sysrq") || Key("kernel.sysrq").Matches("kernel.sysrq2") {
		t.Error("a key that is not a glob matches itself only")
	}
}

func TestParse(t *testing.T) {
	in := `# A comment
; another, as sysctl.d(5) allows

net.ipv4.neigh.default.gc_thresh1 = 0
	net/ipv6/neigh/default/gc_thresh1=0   
-net.core.default_qdisc = fq_codel
-net.ipv4.conf.all.rp_filter
net.ipv4.conf.*.rp_filter = 2
kernel.core_pattern = |/usr/lib/systemd/systemd-coredump %P %u %g
kernel.domainname =
net.ipv4.ip_local_port_range = 32768	60999
`
	got, err := Parse(strings.NewReader(in), "/etc/sysctl.d/10-x.conf")
	if err != nil {
		t.Fatal(err)
	}
	f := "/etc/sysctl.d/10-x.conf"
	want := []Assignment{
		{Key: "net.ipv4.neigh.default.gc_thresh1", Value: "0", File: f, Line: 4},
		{Key: "net.ipv6.neigh.default.gc_thresh1", Value: "0", File: f, Line: 5},
		{Key: "net.core.default_qdisc", Value: "fq_codel", IgnoreFailure: true, File: f, Line: 6},
		{Key: "net.ipv4.conf.all.rp_filter", Exclude: true, File: f, Line: 7},
		{Key: "net.ipv4.conf.*.rp_filter", Value: "2", File: f, Line: 8},
		{Key: "kernel.core_pattern", Value: "|/usr/lib/systemd/systemd-coredump %P %u %g", File: f, Line: 9},
		{Key: "kernel.domainname", Value: "", File: f, Line: 10},
		{Key: "net.ipv4.ip_local_port_range", Value: "32768\t60999", File: f, Line: 11},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"net.ipv4.neigh.default.gc_thresh1 = 0\nnet.ipv4.neigh.default.gc_thresh2 1024\n",
			`f.conf:2: "net.ipv4.neigh.default.gc_thresh2 1024" is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs`},
		{"# ok\n = 5\n", `f.conf:2: "= 5" has no key`},
		{"-\n", `f.conf:1: "-" has no key`},
		{"- = 1\n", `f.conf:1: "- = 1" has no key`},
		{"net ipv4 = 1\n", `f.conf:1: key "net ipv4" holds a blank or control character`},
		{"net/../../etc/passwd = x\n", `f.conf:1: key "net/../../etc/passwd" has a ".." component`},
		{"a = 1\nb = \x00\n", `f.conf:2: NUL byte in line`},
		{"a = 1\n" + strings.Repeat("x", maxLineLen+1) + "\n", `f.conf:2: line longer than 1 MiB`},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in), "f.conf")
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != tt.want {
			t.Errorf("Parse(%.40q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// FuzzParse feeds the parser what a config file may hold. Whatever it
// accepts must be canonical (keys parse back to themselves) and must
// survive being written out and read again; whatever it refuses must name a
// line of the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"net.ipv4.neigh.default.gc_thresh1 = 0\n",
		"# c\n; c\n\n-net.ipv4.conf.all.rp_filter\nnet.ipv4.conf.*.rp_filter = 2\n",
		"net/ipv4/conf/enp3s0.200/forwarding=1\r\n-kernel.x = a b\tc\n",
		"a.b/c = 1\n= x\n",
		"net.ipv4.conf.[a-z]*.arp_notify = 1\n",
		"\xff\xfe = \x80\n-\n=\n",
		"a = 1\na = 2\na = 1\n-a\na = 3\n",
		"net.ipv4.neigh.default.gc_thresh1 = 0 # not a comment\n\t ; c\n",
		"/net/./ipv4//conf/eth0.1/arp_notify = 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		as, err := Parse(strings.NewReader(in), "f")
		lines := strings.Count(in, "\n") + 1
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) && (se.Line < 1 || se.Line > lines+1) {
				t.Fatalf("error names line %d of %d: %v", se.Line, lines, err)
			}
			return
		}
		var out strings.Builder
		prev := 0
		for _, a := range as {
			if a.Line <= prev || a.Line > lines {
				t.Fatalf("assignment at line %d after line %d, of %d", a.Line, prev, lines)
			}
			prev = a.Line
			if k, err := ParseKey(string(a.Key)); err != nil || k != a.Key {
				t.Fatalf("key %q parses back as %q, %v", a.Key, k, err)
			}
			out.WriteString(a.String() + "\n")
		}
		again, err := Parse(strings.NewReader(out.String()), "f")
		if err != nil {
			t.Fatalf("written back %q: %v", out.String(), err)
		}
		if len(again) != len(as) {
			t.Fatalf("written back: %d assignments, want %d", len(again), len(as))
		}
		for i := range as {
			a, b := as[i], again[i]
			if a.Key != b.Key || a.Value != b.Value || a.Exclude != b.Exclude || a.IgnoreFailure != b.IgnoreFailure {
				t.Fatalf("written back: %+v became %+v", a, b)
			}
		}
	})
}

// A config or policy file past the bounds is refused with a line that
// names it, before it is read whole.
func TestParseLimits(t *testing.T) {
	lines := strings.Repeat("net.ipv4.neigh.default.gc_thresh1 = 0\n", MaxFileLines+1)
	_, err := Parse(strings.NewReader(lines), "big.conf")
	var le *LimitError
	if !errors.As(err, &le) || err.Error() != "file big.conf: more than 50000 lines" {
		t.Errorf("too many lines: %v", err)
	}
	if _, err := Parse(strings.NewReader(lines[:len(lines)-len("net.ipv4.neigh.default.gc_thresh1 = 0\n")]), "ok.conf"); err != nil {
		t.Errorf("at the line limit: %v", err)
	}
	long := strings.Repeat("#"+strings.Repeat("x", 999)+"\n", MaxFileBytes/1000+1)
	if _, err := Parse(strings.NewReader(long), "long.conf"); !errors.As(err, &le) || err.Error() != "file long.conf: more than 4194304 bytes" {
		t.Errorf("too many bytes: %v", err)
	}
	if _, err := ParsePolicy(strings.NewReader(lines), "p.policy"); !errors.As(err, &le) || err.Error() != "file p.policy: more than 50000 lines" {
		t.Errorf("policy: %v", err)
	}

	p := filepath.Join(t.TempDir(), "big.conf")
	os.WriteFile(p, []byte(lines), 0o644)
	if _, err := LoadConfigFiles(context.Background(), p); err == nil || err.Error() != "file "+p+": more than 50000 lines" {
		t.Errorf("LoadConfigFiles: %v", err)
	}
}

// A key set again and again costs one entry, not one per line.
func TestConfigMergeCompacts(t *testing.T) {
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "net.ipv4.neigh.default.gc_thresh1 = %d\nnet.ipv4.conf.*.arp_notify = %d\n", i, i%2)
	}
	b.WriteString("-net.ipv4.conf.eth0.arp_notify\n")
	c := newConfig()
	if err := c.add(strings.NewReader(b.String()), "f"); err != nil {
		t.Fatal(err)
	}
	if len(c.options) > 200 {
		t.Errorf("%d entries kept for 3 keys", len(c.options))
	}
	if a, ok := c.Lookup("net.ipv4.neigh.default.gc_thresh1"); !ok || a.Value != "9999" || a.Line != 19999 {
		t.Errorf("gc_thresh1: %+v", a)
	}
	if a, ok := c.Lookup("net.ipv4.conf.eth1.arp_notify"); !ok || a.Value != "1" {
		t.Errorf("glob: %+v", a)
	}
	if _, ok := c.Lookup("net.ipv4.conf.eth0.arp_notify"); ok {
		t.Error("the exclusion is lost")
	}
	want := []string{"net.ipv4.neigh.default.gc_thresh1 = 9999", "net.ipv4.conf.*.arp_notify = 1", "-net.ipv4.conf.eth0.arp_notify"}
	var got []string
	for _, a := range c.Assignments() {
		got = append(got, a.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assignments (-want +got):\n%s", diff)
	}
}

// BenchmarkLoadConfigFile reads a config file at the line limit: memory
// per line is what -benchmem shows, divided by MaxFileLines.
func BenchmarkLoadConfigFile(b *testing.B) {
	var sb strings.Builder
	for i := range MaxFileLines {
		fmt.Fprintf(&sb, "net.ipv4.neigh.eth%d.gc_stale_time = %d\n", i, i)
	}
	p := filepath.Join(b.TempDir(), "big.conf")
	os.WriteFile(p, []byte(sb.String()), 0o644)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadConfigFiles(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseExpectation feeds --expect and policy lines. Whatever it
// accepts must print back as a line that parses to the same rule.
func FuzzParseExpectation(f *testing.F) {
	for _, s := range []string{
		"net.ipv4.neigh.default.gc_thresh1=0",
		" net/ipv4/neigh/default/gc_thresh3 >= 4096 ",
		"net.ipv4.x==1", "net.ipv4.x!=1", "a=>1", "a<1", "a.b = c d",
		"net.ipv4.neigh.*.gc_stale_tim<=1", "net.ipv4.conf.all.arp_notfy=1", "<=5", "net.ipv6.conf.*.ndisc_notfy=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ParseExpectation(in)
		if err != nil {
			return
		}
		if _, err := Known(e.Key); err != nil {
			t.Fatalf("accepted an unknown key: %v", err)
		}
		again, err := ParseExpectation(string(e.Key) + string(e.Op) + e.Value)
		if err != nil {
			t.Fatalf("%q printed back as %q: %v", in, e.String(), err)
		}
		if again != e {
			t.Fatalf("%q: %+v became %+v", in, e, again)
		}
	})
}

package namespaces

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParseNetNSMounts(t *testing.T) {
	table := strings.Join([]string{
		`22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw`,
		`310 25 0:4 net:[4026532900] /run/netns/lab rw shared:148 - nsfs nsfs rw`,
		// No optional fields at all.
		`313 22 0:4 net:[4026533100] /tmp/with\040space\134and\011tab rw - nsfs nsfs rw`,
		// Another kind of namespace.
		`314 22 0:4 mnt:[4026533150] /run/mntns/keep rw - nsfs nsfs rw`,
		// Before Linux 3.19 namespace files lived on proc.
		`40 22 0:3 net:[4026532456] /var/run/netns/old rw,nosuid - proc proc rw`,
		// proc mounted as itself is not a namespace.
		`41 22 0:3 / /proc rw - proc proc rw`,
		// A device number that is not one.
		`315 22 x:4 net:[4026533400] /run/netns/bad rw - nsfs nsfs rw`,
		// Cut short.
		`316 22 0:4 net:[4026533500]`,
		`317 22 0:4 net:[4026533600] /run/netns/x rw -`,
		// Several optional fields, and a big device number.
		`318 22 259:65537 net:[4026533700] /srv/ns rw shared:3 master:4 propagate_from:5 - nsfs nsfs rw`,
		``,
	}, "\n")
	got := parseNetNSMounts(table)
	want := []nsMount{
		{ID{4, 4026532900}, "/run/netns/lab"},
		{ID{4, 4026533100}, "/tmp/with space\\and\ttab"},
		{ID{3, 4026532456}, "/var/run/netns/old"},
		// Device numbers as stat(2) gives them.
		{ID{unix.Mkdev(259, 65537), 4026533700}, "/srv/ns"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(nsMount{})); diff != "" {
		t.Errorf("parseNetNSMounts mismatch (-want +got):\n%s", diff)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          "/plain",
		`/a\040b`:         "/a b",
		`/a\134`:          `/a\`,
		`/trailing\04`:    `/trailing\04`,
		`/not\089octal`:   `/not\089octal`,
		`\012\011`:        "\n\t",
		`/back\\040slash`: `/back\ slash`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	s := "7000 (my (odd) name) S 1 7000 7000 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0\n"
	got, ok := parseStat(s)
	if !ok {
		t.Fatalf("parseStat(%q) failed", s)
	}
	want := procStat{comm: "my (odd) name", ppid: 1, flags: 4194560, start: 123456}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(procStat{})); diff != "" {
		t.Errorf("parseStat mismatch (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "1 (x", "1 x) S", "1 (x) S 1 2 3", "1 (x) S y 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"} {
		if _, ok := parseStat(bad); ok {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func FuzzParseNetNSMounts(f *testing.F) {
	f.Add("310 25 0:4 net:[4026532900] /run/netns/lab rw shared:148 - nsfs nsfs rw\n")
	f.Add(`313 22 0:4 net:[4026533100] /tmp/with\040space rw - nsfs nsfs rw`)
	f.Add("40 22 0:3 net:[1] /x rw - proc proc rw\n41 22 0:3 / /proc rw - proc proc rw")
	f.Add(" - \n - nsfs")
	f.Fuzz(func(t *testing.T, table string) {
		for _, m := range parseNetNSMounts(table) {
			if m.mountPoint == "" {
				t.Errorf("empty mount point from %q", table)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add("7000 (my (odd) name) S 1 7000 7000 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0\n")
	f.Add("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0")
	f.Add("(")
	f.Add(")(")
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := parseStat(s)
		if ok && !strings.Contains(s, "("+st.comm+")") {
			t.Errorf("comm %q is not in %q", st.comm, s)
		}
	})
}

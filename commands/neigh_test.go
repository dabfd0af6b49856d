package commands

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

func TestNeighFlags(t *testing.T) {
	all, _ := neigh.ParseStates("all")
	stale, _ := neigh.ParseStates("stale,failed")
	tests := []struct {
		args    []string
		want    neigh.Filter
		wantErr string
	}{
		{args: nil, want: neigh.Filter{}},
		{args: []string{"-i", "eth0", "-4"}, want: neigh.Filter{Interface: "eth0", Family: neigh.Inet}},
		{args: []string{"-6", "--state", "all"}, want: neigh.Filter{Family: neigh.Inet6, States: all}},
		{args: []string{"--state", "STALE,failed"}, want: neigh.Filter{States: stale}},
		{args: []string{"--ip", "192.0.2.7", "--ip", "198.51.100.0/24,2001:db8::/32"}, want: neigh.Filter{Prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}}},
		{args: []string{"-4", "-6"}, wantErr: "-4 and -6 exclude each other; give neither for both families"},
		{args: []string{"--state", "stael"}, wantErr: `--state: unknown neighbor state "stael"`},
		{args: []string{"--ip", "192.0.2.300"}, wantErr: `--ip: invalid IP address "192.0.2.300"`},
		{args: []string{"--resolve-timeout", "0s"}, wantErr: "--resolve-timeout 0s: want 1ms to 1m0s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got *neighOptions
			cmd := newNeighCmd(&globalOptions{}, func(_ context.Context, o *neighOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(append([]string{}, tt.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.filter, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
		})
	}
}

func fixedEntries() []neigh.Entry {
	return []neigh.Entry{
		{IP: netip.MustParseAddr("192.0.2.9"), Family: neigh.Inet, MAC: "02:00:00:00:00:09", Interface: "eth0", IfIndex: 2,
			State: neigh.Reachable, ConfirmedAgo: neigh.Age(3 * time.Second), UsedAgo: neigh.Age(3 * time.Second), UpdatedAgo: neigh.Age(1500 * time.Millisecond)},
		{IP: netip.MustParseAddr("192.0.2.50"), Family: neigh.Inet, MAC: "02:00:00:00:50:a1", Interface: "eth0", IfIndex: 2,
			State: neigh.Stale, ConfirmedAgo: neigh.Age(125 * time.Minute), UsedAgo: neigh.Age(14 * time.Minute), UpdatedAgo: neigh.Age(14 * time.Minute),
			Name: "cache-1.example"},
		{IP: netip.MustParseAddr("2001:db8::1"), Family: neigh.Inet6, MAC: "02:00:00:00:00:01", Interface: "eth0", IfIndex: 2,
			State: neigh.Stale, Flags: neigh.FlagRouter, ConfirmedAgo: neigh.Age(50 * time.Hour), UsedAgo: neigh.Age(90 * time.Second), UpdatedAgo: neigh.Age(90 * time.Second)},
		{IP: netip.MustParseAddr("198.51.100.7"), Family: neigh.Inet, Interface: "eth1", IfIndex: 3, State: neigh.Failed, Probes: 3,
			ConfirmedAgo: neigh.Age(time.Minute), UsedAgo: neigh.Age(2 * time.Second), UpdatedAgo: neigh.Age(2 * time.Second)},
	}
}

var fixedTables = []neigh.Table{
	{Family: neigh.Inet, Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024},
	{Family: neigh.Inet6, Name: "ndisc_cache", Thresh1: 0, Thresh2: 512, Thresh3: 1024},
}

// A table prints the same on a terminal and in a pipe: a header, columns
// aligned with blanks, "-" for a missing value; a terminal adds the
// summary line. --no-headers drops the header.
func TestNeighViewRender(t *testing.T) {
	tests := []struct {
		name string
		v    neighView
	}{
		{"neigh-view-terminal", neighView{tty: true, tables: fixedTables}},
		{"neigh-view-wide-names", neighView{tty: true, wide: true, names: true}},
		{"neigh-view-pipe", neighView{}},
		{"neigh-view-no-headers", neighView{style: tableStyle{noHeaders: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.entries = fixedEntries()
			var b bytes.Buffer
			if err := tt.v.render(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b.String())
		})
	}
}

// `arpdoctor neigh | awk '{print $1, $2}'` gives IP and MAC for every
// entry, with a MAC or without.
func TestNeighColumnsSplit(t *testing.T) {
	var b bytes.Buffer
	if err := (neighView{entries: fixedEntries()}).render(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][2]string{{"IP", "MAC"}, {"192.0.2.9", "02:00:00:00:00:09"}, {"192.0.2.50", "02:00:00:00:50:a1"},
		{"2001:db8::1", "02:00:00:00:00:01"}, {"198.51.100.7", "-"}}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 7 || f[0] != want[i][0] || f[1] != want[i][1] {
			t.Errorf("line %d %q splits into %q", i, l, f)
		}
	}
}

// What the kernel or the network says is escaped in text: an interface
// named to clear the screen, a PTR record with a control character.
func TestNeighEscapes(t *testing.T) {
	es := fixedEntries()[:1]
	es[0].Interface = "x\x1b[2J\x1b[31m"
	es[0].Name = "evil\x07.example."
	var b bytes.Buffer
	if err := (neighView{entries: es, names: true}).render(&b); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `x\x1b[2J\x1b[31m`) || !strings.Contains(b.String(), `evil\a.example.`) {
		t.Errorf("not escaped: %q", b.String())
	}
}

func TestNeighViewColors(t *testing.T) {
	v := neighView{tty: true, style: tableStyle{p: palette{on: true}}, entries: fixedEntries()}
	var b bytes.Buffer
	if err := v.render(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\x1b[32mREACHABLE\x1b[0m", "\x1b[33mSTALE\x1b[0m", "\x1b[31mFAILED\x1b[0m", "\x1b[2m4 entries"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("colored table lacks %q:\n%s", want, b.String())
		}
	}
	// Colors do not break the alignment.
	lines := strings.Split(b.String(), "\n")
	if i, j := strings.Index(lines[1], "3s"), strings.Index(lines[2], "2h5m"); i-len("\x1b[32m\x1b[0m") != j-len("\x1b[33m\x1b[0m") {
		t.Errorf("CONFIRMED column misaligned:\n%s", b.String())
	}
}

func TestNeighJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSONArray(&b, fixedEntries()[2:]); err != nil {
		t.Fatal(err)
	}
	want := `[{"ip":"2001:db8::1","family":"inet6","mac":"02:00:00:00:00:01","interface":"eth0","ifindex":2,"state":"STALE","flags":["router"],"probes":0,"confirmed_ago_s":180000,"used_ago_s":90,"updated_ago_s":90},` +
		`{"ip":"198.51.100.7","family":"inet","mac":"","interface":"eth1","ifindex":3,"state":"FAILED","flags":[],"probes":3,"confirmed_ago_s":60,"used_ago_s":2,"updated_ago_s":2}]` + "\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
	b.Reset()
	writeJSONArray(&b, []neigh.Entry{})
	if b.String() != "[]\n" {
		t.Errorf("empty list = %q, want []", b.String())
	}
}

// Every kind of trouble is one line on stderr and exit code 2.
func TestNeighErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--netns", "arpdt-absent", "neigh"}, `arpdoctor: network namespace "arpdt-absent" not found: no /run/netns/arpdt-absent (` + "`ip netns list`" + ` shows the names)`},
		{[]string{"neigh", "-o", "yaml"}, "arpdoctor: neigh does not print -o yaml (want table, wide, json) (see 'arpdoctor neigh --help')"},
		{[]string{"neigh", "--color", "sometimes"}, `arpdoctor: invalid --color "sometimes" (want auto, always or never) (see 'arpdoctor neigh --help')`},
		{[]string{"neigh", "--ip", "not-an-ip"}, `arpdoctor: --ip: invalid IP address "not-an-ip": want an address or CIDR such as 192.0.2.0/24 (see 'arpdoctor neigh --help')`},
		{[]string{"neigh", "--bogus"}, "arpdoctor: unknown flag: --bogus (see 'arpdoctor neigh --help')"},
		{[]string{"neigh", "extra"}, `arpdoctor: unknown command "extra" for "arpdoctor neigh" (see 'arpdoctor neigh --help')`},
		{[]string{"nieghbors"}, `arpdoctor: unknown command "nieghbors" for "arpdoctor" (see 'arpdoctor --help')`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, false, tt.args...)
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if diff := cmp.Diff(tt.want+"\n", errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

package commands

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The incident over IPv6, on one lab: trace on the server names the stale
// NDP entry with both MACs while the new client fails to connect; verify
// and doctor prove it by neighbor solicitation; after verify --fix the new
// client connects.
func TestIncident6(t *testing.T) {
	in := neightest.NewIncident6(t)
	stale := netip.MustParseAddr(neightest.ClientIP6)
	restale := func() { in.Server.SetNeigh(stale, neightest.OldMAC, neigh.Stale) }

	// The lab as built: the server's only entry is the stale one.
	code, out, errOut := run(t, false, "--netns", in.Server.Name, "neigh", "-o", "json")
	var rows []struct{ IP, Family, MAC, State string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("neigh: exit %d, stderr %q: %v", code, errOut, err)
	}
	if want := []struct{ IP, Family, MAC, State string }{{neightest.ClientIP6, "inet6", neightest.OldMAC, "STALE"}}; !cmp.Equal(want, rows) {
		t.Fatalf("the server's neighbor table: %+v, want %+v", rows, want)
	}

	// As over IPv4: SYN-ACKs to the dead MAC while the entry is DELAY
	// (5s), then three unicast solicitations to that MAC, a second apart.
	server := startTrace(t, "--netns", in.Server.Name, "trace", "-i", "eth0", "-o", "json",
		"--duration", "10s", "--handshake-timeout", "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	err := in.Connect(ctx)
	cancel()
	if err == nil {
		t.Fatal("the new client connected over IPv6: the incident did not happen")
	}
	code, found := server.wait(t)
	if code != ExitProblems {
		t.Errorf("trace: exit code %d, want %d; stderr %s", code, ExitProblems, server.errOut)
	}
	srv := netip.AddrPortFrom(netip.MustParseAddr(neightest.ServerIP6), neightest.ServerPort)
	want := []brief{
		{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Client: stale, Server: srv,
			ClientMAC: neightest.NewMAC, SynAckTo: []string{neightest.OldMAC}},
		{Kind: capture.UnansweredARPProbe, Severity: capture.Problem, IP: stale, MAC: neightest.OldMAC},
	}
	if diff := cmp.Diff(want, briefs(found), cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("trace findings (-want +got):\n%s\nfull output:\n%s", diff, server.out)
	}
	if len(found) > 0 {
		f := found[0]
		if !strings.HasPrefix(f.Message, "2001:db8::10 answers 2001:db8::50 at 02:00:00:00:50:a1, but 2001:db8::50 now sends from 02:00:00:00:50:b2: the neighbor entry for 2001:db8::50 is stale") {
			t.Errorf("message %q", f.Message)
		}
		wantNext := []string{
			"arpdoctor --netns " + in.Server.Name + " verify --fix --ip 2001:db8::50",
		}
		if diff := cmp.Diff(wantNext, f.Next); diff != "" {
			t.Errorf("next commands (-want +got):\n%s", diff)
		}
	}
	if len(found) > 1 && !strings.Contains(found[1].Message, " with 3 neighbor solicitations and got no reply") {
		t.Errorf("unanswered probe message %q", found[1].Message)
	}

	// verify asks by neighbor solicitation who owns the IP: the new
	// client answers. An NA overrides the entry whatever its age, so the
	// kernel may take the new MAC from the answer itself.
	restale()
	code, out, errOut = run(t, false, "--netns", in.Server.Name, "verify", "--ip", neightest.ClientIP6, "-o", "json", "--timeout", "500ms")
	if code != ExitProblems {
		t.Fatalf("verify: exit %d, want %d; stderr %s", code, ExitProblems, errOut)
	}
	var got []diagnose.ProbeRecord
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantRecords := []diagnose.ProbeRecord{{IP: neightest.ClientIP6, Interface: "eth0", StateBefore: "STALE", CachedMAC: neightest.OldMAC,
		AnsweredMACs: []string{neightest.NewMAC}, Verdict: "mismatch", Problem: true}}
	if diff := cmp.Diff(wantRecords, got, cmpIgnoreAfter); diff != "" {
		t.Errorf("verify (-want +got):\n%s", diff)
	}

	// doctor probes every entry in use, and proves the stale one.
	restale()
	code, rep := doctorJSON(t, "--netns", in.Server.Name)
	if code != ExitProblems || rep.OK {
		t.Errorf("doctor: exit %d, ok %v; want 1 and false", code, rep.OK)
	}
	v := checkNamed(t, rep, "verify")
	// A note that the kernel corrected the entry may follow the proof.
	if v.Verdict != "problem" || len(v.Evidence) == 0 ||
		!strings.HasPrefix(v.Evidence[0], "2001:db8::50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers") {
		t.Errorf("doctor verify: %s %q", v.Verdict, v.Evidence)
	}
	const diagnosis = "stale neighbor entry for 2001:db8::50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2"
	if dg := rep.Diagnosis; dg == nil || dg.Certainty != "proven" || !strings.HasPrefix(dg.Summary, diagnosis) {
		t.Errorf("doctor diagnosis: %+v", rep.Diagnosis)
	}
	restale()
	code, out, _ = run(t, false, "--netns", in.Server.Name, "doctor", "--timeout", "500ms")
	if code != ExitProblems || !strings.Contains(out, "\nDIAGNOSIS (proven): "+diagnosis) {
		t.Errorf("doctor text: exit %d:\n%s", code, out)
	}

	restale()
	code, out, errOut = run(t, false, "--netns", in.Server.Name, "verify", "--fix", "--timeout", "500ms")
	if code != ExitOK {
		t.Fatalf("verify --fix: exit %d; stderr %s\n%s", code, errOut, out)
	}
	c, err := neigh.Open(in.Server.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	es, err := c.List(neigh.Filter{Prefixes: []netip.Prefix{netip.PrefixFrom(stale, 128)}, States: neigh.AllStates})
	if err != nil || len(es) != 1 || es[0].MAC != neightest.NewMAC {
		t.Errorf("after verify --fix the server's entries for %s: %+v, %v; want %s", stale, es, err, neightest.NewMAC)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := in.Connect(ctx); err != nil {
		t.Errorf("after verify --fix the new client still cannot connect over IPv6: %v", err)
	}
}

// doctor --trace on the IPv6 incident's server: the packets and the probe
// both name the stale entry, and the diagnosis cites them.
func TestIncident6DoctorTrace(t *testing.T) {
	in := neightest.NewIncident6(t)
	code, rep := traceDoctor(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if in.Connect(ctx) == nil {
			t.Error("the new client connected over IPv6: the incident did not happen")
		}
	}, "--netns", in.Server.Name, "--trace", "6s", "-i", "eth0")
	if code != ExitProblems || rep.OK {
		t.Errorf("exit %d, ok %v; want %d and false", code, rep.OK, ExitProblems)
	}
	tr := checkNamed(t, rep, "trace")
	if tr.Verdict != "problem" || len(tr.Evidence) == 0 || !strings.HasPrefix(tr.Evidence[0], "synack_to_wrong_mac: 2001:db8::10 answers 2001:db8::50 at ") ||
		!strings.Contains(tr.Evidence[0], neightest.OldMAC) || !strings.Contains(tr.Evidence[0], neightest.NewMAC) {
		t.Errorf("trace: %s %q", tr.Verdict, tr.Evidence)
	}
	dg := rep.Diagnosis
	if dg == nil || dg.Certainty != "proven" ||
		!strings.HasPrefix(dg.Summary, "stale neighbor entry for 2001:db8::50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") ||
		!strings.Contains(dg.Summary, "the trace saw the SYN come from 02:00:00:00:50:b2 and the SYN-ACKs go to 02:00:00:00:50:a1") {
		t.Errorf("diagnosis %+v", dg)
	}
}

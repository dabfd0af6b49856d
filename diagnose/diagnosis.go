package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
)

// diagnose picks the single most likely explanation: what probes or
// packets proved first, by how directly it breaks connections; then what
// the counters show; then what the settings make possible.
func (a *assessment) diagnose() {
	f := a.f
	var prevent *Command
	if f.Settings != nil {
		for _, r := range f.Settings.Results {
			if r.Rule == sysctl.RuleStaleEntries && r.Status == sysctl.StatusFail {
				c := MachineWide("sysctl", "fix")
				prevent = &c
			}
		}
	}
	var probed []neigh.ProbeResult
	if f.Verify != nil {
		probed = f.Verify.Results
	}
	var findings []capture.Finding
	if f.Trace != nil {
		findings = f.Trace.Findings
	}
	d := diagnoser{netns: f.NetNS, probed: probed, findings: findings, prevent: prevent}
	for _, find := range []func() *Diagnosis{
		d.stale,
		func() *Diagnosis { return d.fromProbes(neigh.VerdictDuplicate) },
		d.duplicateInTrace,
		func() *Diagnosis { return d.fromProbes(neigh.VerdictNoAnswer) },
		func() *Diagnosis {
			for _, ch := range a.rep.Checks {
				if ch.Name == CheckStatistics && ch.Verdict == Problem {
					return &Diagnosis{Certainty: "proven",
						Summary: "the neighbor table overflows: the kernel refuses new neighbors, and connections to them fail",
						Next:    []Command{MachineWide("sysctl", "fix", "--profile", "kubernetes")}}
				}
			}
			return nil
		},
		func() *Diagnosis {
			if prevent == nil || !a.machine {
				return nil
			}
			return &Diagnosis{Certainty: "exposed",
				Summary: "no wrong entry found now, but gc_thresh1 keeps the kernel from retiring stale entries: a reused IP will break connections",
				Next:    []Command{*prevent}}
		},
	} {
		if dg := find(); dg != nil {
			a.rep.Diagnosis = dg
			return
		}
	}
}

type diagnoser struct {
	netns    string
	probed   []neigh.ProbeResult
	findings []capture.Finding
	prevent  *Command
}

// stale diagnoses a stale entry from the trace (the packets of a failing
// handshake) and the probes (the owner answering from another MAC),
// citing both when both saw it.
func (d diagnoser) stale() *Diagnosis {
	var probe *neigh.ProbeResult
	for i := range d.probed {
		if r := &d.probed[i]; r.Verdict == neigh.VerdictMismatch && r.Problem() {
			probe = r
			break
		}
	}
	var seen *capture.Finding
	for i := range d.findings {
		fd := &d.findings[i]
		if fd.Kind != capture.SynAckToWrongMAC || fd.Severity != capture.Problem || len(fd.SynAckTo) == 0 {
			continue
		}
		if probe == nil || fd.Client.Addr() == probe.Entry.IP {
			seen = fd
			break
		}
	}
	if probe == nil && seen == nil {
		return nil
	}
	dg := &Diagnosis{Certainty: "proven", Next: []Command{}}
	var ip netip.Addr
	var ifname string
	corrected := false
	switch {
	case probe != nil:
		e := probe.Entry
		ip, ifname = e.IP, e.Interface
		dg.Summary = fmt.Sprintf("stale neighbor entry for %s: cached %s, owner %s", ip, e.MAC, probe.Answered[0])
		if seen != nil {
			dg.Summary += fmt.Sprintf("; the trace saw the SYN come from %s and the SYN-ACKs go to %s", seen.ClientMAC, seen.SynAckTo[0].MAC)
		}
		if probe.Corrected() {
			corrected = true
			dg.Summary += "; the probe's answer made the kernel correct it, for now"
		}
	default:
		ip = seen.Client.Addr()
		dg.Summary = fmt.Sprintf("stale neighbor entry for %s: the SYN came from %s, the SYN-ACKs went to %s", ip, seen.ClientMAC, seen.SynAckTo[0].MAC)
		if seen.KernelCorrected {
			// Nothing left to flush: what remains is why it lived.
			corrected = true
			dg.Summary += "; the kernel has corrected the entry since"
		}
	}
	if !corrected {
		dg.Next = append(dg.Next, FixEntry(d.netns, ip, ifname))
	}
	if d.prevent != nil {
		dg.Summary += "; gc_thresh1 keeps the kernel from retiring such entries"
		dg.Next = append(dg.Next, *d.prevent)
	}
	return dg
}

// fromProbes diagnoses the first entry in use whose probe gave verdict k.
func (d diagnoser) fromProbes(k neigh.Verdict) *Diagnosis {
	for i := range d.probed {
		r := &d.probed[i]
		if r.Verdict != k || !r.Problem() {
			continue
		}
		e := r.Entry
		sel := []string{"--ip", e.IP.String(), "-i", e.Interface}
		switch k {
		case neigh.VerdictDuplicate:
			return &Diagnosis{Certainty: "proven",
				Summary: fmt.Sprintf("%d hosts claim %s: %s", len(r.Answered), e.IP, strings.Join(r.Answered, ", ")),
				Next:    []Command{In(d.netns, append([]string{"watch"}, sel...)...)}}
		case neigh.VerdictNoAnswer:
			return &Diagnosis{Certainty: "proven",
				Summary: fmt.Sprintf("dead neighbor entry for %s: the cache holds %s, nobody answers", e.IP, e.MAC),
				Next:    []Command{FixEntry(d.netns, e.IP, e.Interface)}}
		}
	}
	return nil
}

func (d diagnoser) duplicateInTrace() *Diagnosis {
	for i := range d.findings {
		f := &d.findings[i]
		if f.Kind == capture.DuplicateIP && f.Severity == capture.Problem {
			return &Diagnosis{Certainty: "proven",
				Summary: fmt.Sprintf("%d hosts claim %s: %s", len(f.MACs), f.IP, strings.Join(f.MACs, ", ")),
				Next:    []Command{In(d.netns, "watch", "--ip", f.IP.String())}}
		}
	}
	return nil
}

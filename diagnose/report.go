package diagnose

import (
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
)

// Verdict is a check's outcome.
type Verdict string

// Verdicts, from best to worst; Skipped says the check could not run.
const (
	OK      Verdict = "ok"
	Warning Verdict = "warning"
	Problem Verdict = "problem"
	Skipped Verdict = "skipped"
)

func (v Verdict) rank() int {
	switch v {
	case Warning:
		return 1
	case Problem:
		return 2
	}
	return 0
}

// Worse returns the worse of two verdicts.
func Worse(a, b Verdict) Verdict {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// The checks, in the order they run: everything that sends nothing
// first, so that the evidence is seen before a probe's answer lets the
// kernel correct it.
const (
	CheckSettings   = "settings"
	CheckTable      = "table"
	CheckStatistics = "statistics"
	CheckTrace      = "trace"
	CheckVerify     = "verify"
)

// Facts are what was gathered about one network namespace.
type Facts struct {
	// NetNS is the namespace read, as --netns names it; "" for the current.
	NetNS string
	// Entries are every entry of the table, in all states.
	Entries []neigh.Entry
	Tables  []neigh.Table
	// ProcStats are the /proc/net/stat counters by table name
	// (arp_cache, ndisc_cache), where they could be read: only the
	// initial network namespace shows them.
	ProcStats map[string]neigh.ProcStats
	// ProcStatsErr is an error reading them other than their absence.
	ProcStatsErr error
	// Settings is the settings report against Profile; nil with
	// SettingsErr when it could not be read.
	Settings    *sysctl.Report
	SettingsErr error
	Profile     string
	// DoctorFlags are flags of the run to keep in the doctor command lines
	// the report suggests (--passive).
	DoctorFlags []string
	// Trace is what tracing handshakes saw; nil when not asked for.
	Trace *TraceFacts
	// Verify is what probing found; nil when not asked for (passive).
	Verify *VerifyFacts
}

// TraceFacts are the handshakes traced live.
type TraceFacts struct {
	Interface string
	// Interfaces are the namespace's interfaces that could be traced,
	// for a suggestion when no default route named one.
	Interfaces []string
	Duration   time.Duration
	// Err says why the trace did not run; Summary is nil then.
	Err      error
	Summary  *capture.Summary
	Findings []capture.Finding
}

// VerifyFacts are the probes of the entries in use.
type VerifyFacts struct {
	// InUse is how many entries were in use; Results may hold fewer when
	// the run was bounded.
	InUse int
	// Err says why probing did not run.
	Err     error
	Results []neigh.ProbeResult
	Took    time.Duration
}

// Report is the assessment of one namespace.
type Report struct {
	// OK is false when a check found a problem.
	OK bool `json:"ok"`
	// Complete is false when a check that was asked for could not run;
	// Incomplete says which, and what would complete it.
	Complete   bool         `json:"complete"`
	Incomplete []Incomplete `json:"incomplete"`
	NetNS      string       `json:"netns,omitempty"`
	Time       time.Time    `json:"time"`
	Checks     []Check      `json:"checks"`
	// Diagnosis is the most likely explanation, nil when all is well.
	Diagnosis *Diagnosis `json:"diagnosis"`
}

// Incomplete names a check that could not run.
type Incomplete struct {
	Check string `json:"check"`
	// Why it did not run.
	Why string `json:"why"`
	// Run completes the report, when something can.
	Run *Command `json:"run,omitempty"`
}

// Check is one check's verdict, evidence and next commands.
type Check struct {
	Name     string    `json:"name"`
	Verdict  Verdict   `json:"verdict"`
	Summary  string    `json:"summary"`
	Evidence []string  `json:"evidence"`
	Next     []Command `json:"next"`
	// Data is the check's full result, an object of one shape per check:
	// SettingsData, TableData, StatisticsData, TraceData, VerifyData.
	Data any `json:"data,omitempty"`
}

// SettingsData is the settings check's data.
type SettingsData struct {
	Report *sysctl.Report `json:"report"`
}

// TableData is the table check's data.
type TableData struct {
	Entries int `json:"entries"`
	Failing int `json:"failed_or_incomplete"`
}

// StatisticsData is the statistics check's data.
type StatisticsData struct {
	Tables []TableCounters `json:"tables"`
}

// TableCounters are one table's counters since boot.
type TableCounters struct {
	Table        string `json:"table"`
	TableFulls   uint64 `json:"table_fulls"`
	ForcedGCRuns uint64 `json:"forced_gc_runs"`
	ResFailed    uint64 `json:"res_failed"`
	// UnresolvedDiscards is null where /proc/net/stat is not shown.
	UnresolvedDiscards *uint64 `json:"unresolved_discards"`
}

// TraceData is the trace check's data.
type TraceData struct {
	Summary  *capture.Summary  `json:"summary"`
	Findings []capture.Finding `json:"findings"`
}

// VerifyData is the verify check's data.
type VerifyData struct {
	Results []ProbeRecord `json:"results"`
}

// Diagnosis is the single most likely explanation.
type Diagnosis struct {
	// Certainty is "proven" when probes or packets showed it, "exposed"
	// when only the settings make it possible.
	Certainty string    `json:"certainty"`
	Summary   string    `json:"summary"`
	Next      []Command `json:"next"`
}

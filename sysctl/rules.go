package sysctl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Status is a rule's verdict on one value.
type Status string

// Verdicts, from good to bad; NOT VISIBLE says the value could not be read.
const (
	StatusOK         Status = "OK"
	StatusWarn       Status = "WARN"
	StatusFail       Status = "FAIL"
	StatusNotVisible Status = "NOT VISIBLE"
)

// Op compares a value with a wanted one.
type Op string

// Comparisons an Expectation can make; <= and >= need numbers.
const (
	OpEqual   Op = "="
	OpAtMost  Op = "<="
	OpAtLeast Op = ">="
)

// Expectation is a condition on one key, or on every key a glob matches:
// "net.ipv4.neigh.default.gc_thresh1=0".
type Expectation struct {
	Key   Key    `json:"key"`
	Op    Op     `json:"op"`
	Value string `json:"value"`
}

func (e Expectation) String() string { return fmt.Sprintf("%s %s %s", e.Key, e.Op, e.Value) }

// want says what the expectation wants, for messages: "0", ">= 65536".
func (e Expectation) want() string {
	if e.Op == OpEqual {
		return e.Value
	}
	return string(e.Op) + " " + e.Value
}

// ParseExpectation reads KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER, with
// optional blanks around the operator. KEY may be a glob. Anything else
// that looks like an operator ("==", "!=", "=>", "<") is refused rather
// than read as part of the key or the value, and so is a key this package
// knows no kernel has (see Known): a *UnknownKeyError, wrapped.
func ParseExpectation(s string) (Expectation, error) {
	const forms = "want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER"
	var e Expectation
	i := strings.IndexByte(s, '=')
	if i < 0 {
		if j := strings.IndexAny(s, "<>"); j >= 0 {
			return e, fmt.Errorf("%q: %q is not an operator: %s", s, s[j:j+1], forms)
		}
		return e, fmt.Errorf("%q: %s", s, forms)
	}
	keyEnd := i
	e.Op = OpEqual
	if i > 0 && (s[i-1] == '<' || s[i-1] == '>') {
		keyEnd = i - 1
		e.Op = Op(s[i-1 : i+1])
	}
	keyText := strings.TrimSpace(s[:keyEnd])
	rest := strings.TrimSpace(s[i+1:])
	if j := strings.IndexAny(keyText, "<>!="); j >= 0 {
		op := strings.TrimSpace(keyText[j:]) + string(e.Op)
		return e, fmt.Errorf("%q: %q is not an operator: %s", s, op, forms)
	}
	if rest != "" && strings.ContainsRune("=<>", rune(rest[0])) {
		return e, fmt.Errorf("%q: %q is not an operator: %s", s, string(e.Op)+rest[:1], forms)
	}
	k, err := ParseKey(keyText)
	if err != nil {
		return e, fmt.Errorf("%q: %w", s, err)
	}
	if _, err := Known(k); err != nil {
		return e, fmt.Errorf("%q: %w", s, err)
	}
	e.Key = k
	e.Value = strings.Join(strings.Fields(s[i+1:]), " ")
	if e.Value == "" {
		return e, fmt.Errorf("%q: no value after %s", s, e.Op)
	}
	if e.Op != OpEqual {
		if _, err := parseNumber(e.Value); err != nil {
			return e, fmt.Errorf("%q: %s needs a number", s, e.Op)
		}
	}
	return e, nil
}

// holds reports whether a value meets the expectation. Numbers compare as
// numbers, so "0x10" equals "16" as the kernel reads it; anything else
// compares as text, blanks folded.
func (e Expectation) holds(value string) (bool, error) {
	want, werr := parseNumber(e.Value)
	got, gerr := parseNumber(value)
	if e.Op == OpEqual && werr != nil {
		return strings.Join(strings.Fields(value), " ") == e.Value, nil
	}
	if gerr != nil {
		return false, fmt.Errorf("%q is not a number", value)
	}
	switch e.Op {
	case OpAtMost:
		return got <= want, nil
	case OpAtLeast:
		return got >= want, nil
	}
	return got == want, nil
}

// parseNumber reads an integer as the kernel's proc_dointvec does:
// decimal, 0x hex or 0 octal, with an optional sign.
func parseNumber(s string) (int64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	base := 10
	switch {
	case strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || strings.ContainsAny(t, "+-_") {
		return 0, errors.New("not a number")
	}
	n, err := strconv.ParseInt(t, base, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(s, "-") {
		n = -n
	}
	return n, nil
}

// Rule IDs, as reports name the rules.
const (
	// RuleStaleEntries wants gc_thresh1 = 0, so that stale entries are
	// collected.
	RuleStaleEntries = "stale-entries"
	// RuleThresholdOrder wants gc_thresh1 <= gc_thresh2 <= gc_thresh3.
	RuleThresholdOrder = "threshold-order"
	// RuleGCSoftLimit wants room under gc_thresh2 (kubernetes).
	RuleGCSoftLimit = "gc-soft-limit"
	// RuleOverflow wants room under gc_thresh3 (kubernetes).
	RuleOverflow = "overflow"
	// RuleTableUsage wants the table at most half full.
	RuleTableUsage = "table-usage"
	// RuleTableFull wants the table never to have been full.
	RuleTableFull = "table-full"
	// RuleForcedGC wants no forced collections.
	RuleForcedGC = "forced-gc"
	// RuleARPNotify wants arp_notify = 1.
	RuleARPNotify = "arp-notify"
	// RuleNDiscNotify wants ndisc_notify = 1, IPv6's arp_notify.
	RuleNDiscNotify = "ndisc-notify"
	// RuleExpect is a rule given on the command line.
	RuleExpect = "expect"
	// RulePolicy is a rule of a policy file.
	RulePolicy = "policy"
)

// Rule is one check with the reason it matters. Most rules are an
// Expectation on a key; the built-in checks of the tables' thresholds,
// counts and counters judge several values at once.
type Rule struct {
	// ID names the rule in reports: "stale-entries", "expect", "policy".
	ID       string       `json:"id"`
	Severity Status       `json:"severity"`
	Expect   *Expectation `json:"expect,omitempty"`
	// Why says what goes wrong when the rule is broken; Good what keeping
	// it buys. Rules from --expect and policy files have Origin instead:
	// where they were written.
	Why    string `json:"why,omitempty"`
	Good   string `json:"good,omitempty"`
	Origin string `json:"origin,omitempty"`
	// Comment explains the line fix writes for the rule.
	Comment string `json:"-"`

	// eachInterface: the kernel acts on the larger of the all value and
	// the interface's own (IN_DEV_MAXCONF), so a live check that finds all
	// wanting looks at every interface before giving its verdict.
	eachInterface bool
	// check judges the rules that are not an Expectation.
	check func(e *evaluation, r *Rule) []Result
}

// userGiven reports whether the rule is the user's own (--expect or a
// policy file) rather than a profile's.
func (r *Rule) userGiven() bool { return r.Origin != "" }

// Fixable reports whether fix can write a value for the rule.
func (r *Rule) Fixable() bool { return r.Expect != nil && !r.Expect.Key.IsGlob() }

// target is the value fix writes for the rule.
func (r *Rule) target() string { return r.Expect.Value }

// ExpectRule makes a rule of an --expect argument.
func ExpectRule(s string, severity Status) (Rule, error) {
	e, err := ParseExpectation(s)
	if err != nil {
		return Rule{}, err
	}
	return Rule{ID: RuleExpect, Severity: severity, Expect: &e, Origin: "--expect"}, nil
}

// ParsePolicy reads a policy file: one expectation a line (KEY=VALUE,
// KEY<=NUMBER, KEY>=NUMBER), a line starting with "warn " being a warning
// rather than a failure; blank lines and lines starting with # or ; are
// ignored. name is used in errors and in each rule's Origin.
func ParsePolicy(r io.Reader, name string) ([]Rule, error) {
	var rules []Rule
	err := scanLines(r, name, func(n int, b []byte) error {
		line := strings.TrimSpace(string(b))
		if line == "" || line[0] == '#' || line[0] == ';' {
			return nil
		}
		severity := StatusFail
		if word, rest, ok := strings.Cut(line, " "); ok && strings.EqualFold(word, "warn") {
			severity, line = StatusWarn, strings.TrimSpace(rest)
		}
		e, err := ParseExpectation(line)
		if err != nil {
			return &SyntaxError{File: name, Line: n, Msg: err.Error()}
		}
		rules = append(rules, Rule{ID: RulePolicy, Severity: severity, Expect: &e, Origin: fmt.Sprintf("%s:%d", name, n)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rules, nil
}

// ProfileInfo describes a built-in profile.
type ProfileInfo struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

// Profiles lists the built-in profiles; the first is the default.
func Profiles() []ProfileInfo {
	return []ProfileInfo{
		{"cloud", "cloud instances that reuse IPs: collect stale entries (gc_thresh1 = 0), keep the thresholds in order, watch for overflow, announce MACs (arp_notify = 1, ndisc_notify = 1)"},
		{"kubernetes", "large Kubernetes and container nodes: the cloud rules, plus room for tens of thousands of neighbors (gc_thresh2 >= 32768, gc_thresh3 >= 65536)"},
		{"none", "no built-in rules: only --expect and --policy"},
	}
}

// The kubernetes profile's numbers. gc_thresh2 and gc_thresh3 are those of
// OpenShift's node tuning (the TuneD "openshift" profile sets 8192, 32768
// and 65536 for IPv4 and IPv6 alike, because gc_thresh3 capped the number
// of nodes and routes a cluster could have: Red Hat bug 1384746); blog
// posts on scaling clusters to thousands of nodes raise them alike.
// gc_thresh1 stays 0 as in the cloud profile rather than OpenShift's 8192,
// which would keep the collector from running below 8192 entries: kops has
// set 0 on AWS nodes since kubernetes/kubernetes#23395, where a node could
// not reach its master through a stale entry for a reused IP.
const (
	kubernetesThresh2 = "32768"
	kubernetesThresh3 = "65536"
)

// Profile returns the rules of a built-in profile.
func Profile(name string) ([]Rule, error) {
	var rules []Rule
	switch name {
	case "none":
		return nil, nil
	case "cloud", "kubernetes":
	default:
		return nil, fmt.Errorf("unknown profile %q (want cloud, kubernetes or none)", name)
	}
	for _, f := range ipFamilies {
		rules = append(rules,
			Rule{
				ID: RuleStaleEntries, Severity: StatusFail,
				Expect: &Expectation{Key: neighKey(f, "default", "gc_thresh1"), Op: OpEqual, Value: "0"},
				Why:    "below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)",
				Good:   "the garbage collector runs at any table size: stale entries go after gc_stale_time",
				Comment: fmt.Sprintf("Run the %s garbage collector at any table size: below gc_thresh1\n"+
					"entries it never runs, and an entry for a reused IP keeps the old MAC.", f.protocol),
			},
			Rule{ID: RuleThresholdOrder, Severity: StatusFail, check: checkThresholdOrder(f)},
		)
		if name == "kubernetes" {
			rules = append(rules,
				Rule{
					ID: RuleGCSoftLimit, Severity: StatusFail,
					Expect: &Expectation{Key: neighKey(f, "default", "gc_thresh2"), Op: OpAtLeast, Value: kubernetesThresh2},
					Why:    "above gc_thresh2 the kernel forces a collection every 5 s that evicts entries idle for 5 s, so a busy node resolves its pods and peers again and again",
					Good:   "room for many neighbors before collections are forced",
					Comment: "Let the table hold many pods and peers before the kernel forces\n" +
						"collections (OpenShift's node tuning uses 32768).",
				},
				Rule{
					ID: RuleOverflow, Severity: StatusFail,
					Expect: &Expectation{Key: neighKey(f, "default", "gc_thresh3"), Op: OpAtLeast, Value: kubernetesThresh3},
					Why:    "gc_thresh3 is the table's hard limit: a node with many pods and peers reaches it, then the kernel refuses new neighbors (\"neighbour table overflow\") and connections fail",
					Good:   "room for tens of thousands of neighbors before the table overflows",
					Comment: "Raise the table's hard limit: at gc_thresh3 the kernel refuses new\n" +
						"neighbors (\"neighbour table overflow\"); OpenShift's node tuning uses 65536.",
				},
			)
		}
		rules = append(rules,
			Rule{ID: RuleTableUsage, Severity: StatusWarn, check: checkTableUsage(f)},
			Rule{ID: RuleTableFull, Severity: StatusWarn, check: checkCounter(f, "table_fulls")},
			Rule{ID: RuleForcedGC, Severity: StatusWarn, check: checkCounter(f, "forced_gc_runs")},
		)
	}
	rules = append(rules, Rule{
		ID: RuleARPNotify, Severity: StatusWarn,
		Expect:        &Expectation{Key: confKey("all", "arp_notify"), Op: OpEqual, Value: "1"},
		Why:           "with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once",
		Good:          "interfaces announce their MAC when they come up, correcting peers' caches",
		Comment:       "Announce the MAC (gratuitous ARP) when an interface comes up or its MAC\nchanges, so that peers replace a cached entry for a reused IP at once.",
		eachInterface: true,
	}, Rule{
		ID: RuleNDiscNotify, Severity: StatusWarn,
		Expect:        &Expectation{Key: conf6Key("all", "ndisc_notify"), Op: OpEqual, Value: "1"},
		Why:           "with ndisc_notify = 1 an interface sends an unsolicited neighbor advertisement when it comes up or its MAC changes, so a new machine on a reused IPv6 address corrects its peers' caches at once",
		Good:          "interfaces announce their MAC when they come up, correcting peers' IPv6 neighbor caches",
		Comment:       "Announce the MAC (unsolicited neighbor advertisement) when an interface\ncomes up or its MAC changes, so that peers replace a cached entry for a\nreused IPv6 address at once.",
		eachInterface: true,
	})
	return rules, nil
}

package sysctl

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/arpdoctor/arpdoctor/internal/words"
)

// Result is one rule's verdict on one value.
type Result struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Source  string `json:"source"`
	Status  Status `json:"status"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Report is a check's outcome.
type Report struct {
	// OK is true when no rule failed (and, when strict, none warned).
	OK      bool     `json:"ok"`
	Results []Result `json:"results"`
	Profile string   `json:"profile,omitempty"`
	Mode    Mode     `json:"mode"`
	// ConfigFiles are the files read, in the order they apply.
	ConfigFiles []string `json:"config_files,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	// Values are all the values read.
	Values []Value `json:"values"`
}

// Counts returns how many results have each status.
func (r *Report) Counts() map[Status]int {
	m := map[Status]int{}
	for _, res := range r.Results {
		m[res.Status]++
	}
	return m
}

// CheckOptions tune Check.
type CheckOptions struct {
	// Profile names the profile the rules came from, for the report.
	Profile string
	// Boot holds what the config files set at boot. With live values of
	// the initial namespace, a rule kept now but not at boot is a
	// warning: the good value is not persisted and reverts at reboot.
	Boot *Snapshot
	// ConfigFiles are the files Boot (or the values) came from.
	ConfigFiles []string
	// Strict makes a warning fail the check.
	Strict bool
}

// Check judges the values by the rules, in order.
func Check(s *Snapshot, rules []Rule, opts CheckOptions) *Report {
	e := &evaluation{s: s, boot: opts.Boot}
	if !s.InitialNamespace || s.Mode != ModeLive {
		e.boot = nil
	}
	rep := &Report{Results: []Result{}, Profile: opts.Profile, Mode: s.Mode, ConfigFiles: opts.ConfigFiles,
		Notes: slices.Clone(s.Notes), Values: s.Values}
	if rep.Values == nil {
		rep.Values = []Value{}
	}
	if s.Mode == ModeLive && !s.InitialNamespace {
		rep.Notes = append(rep.Notes, "config files set the initial network namespace's values at boot, and this is another one: whether its values persist was not checked")
	}
	for i := range rules {
		r := &rules[i]
		if r.check != nil {
			rep.Results = append(rep.Results, r.check(e, r)...)
		} else {
			rep.Results = append(rep.Results, e.expect(r)...)
		}
	}
	rep.OK = true
	for _, res := range rep.Results {
		if res.Status == StatusFail || opts.Strict && res.Status == StatusWarn {
			rep.OK = false
		}
	}
	return rep
}

// evaluation holds what the rules look at.
type evaluation struct {
	s    *Snapshot
	boot *Snapshot // nil: persistence is not checked
}

// absence says why a key, or a glob, has no value, and whether the kernel
// may have the setting all the same (mayExist): a key that could not be
// read, a table-wide key of a namespace whose /proc/sys has none, a key
// this package knows whose boot value it does not. A key looked for live
// and not found, for none of those reasons, is one the kernel does not
// have here: a misspelling, an interface that is not there, IPv6 off.
func (s *Snapshot) absence(k Key) (why string, mayExist bool) {
	known, _ := Known(k)
	c := k.components()
	if s.Mode != ModeLive {
		switch {
		case k.IsGlob():
			return "no config file sets a key it matches, and it matches none of the keys whose kernel default arpdoctor knows: check its spelling, or set such a key in a config file", false
		case known:
			return "no config file sets it, and arpdoctor does not know its kernel default", true
		}
		// Without a kernel to ask, a key arpdoctor does not know may be
		// misspelt; set by no file, it is not shown to hold either way.
		return "no config file sets it, and arpdoctor does not know this key or its kernel default: check its spelling, or set it in a config file", false
	}
	for _, u := range slices.Sorted(maps.Keys(s.unseen)) {
		if k.Matches(u) {
			return s.unseen[u], true
		}
	}
	where := string(k) + " is not in /proc/sys here"
	if k.IsGlob() {
		where = "nothing in /proc/sys here matches " + string(k)
	}
	if len(c) >= 3 && c[0] == "net" {
		for _, dir := range s.familiesOff {
			if ok, _ := path.Match(c[1], dir); ok && !k.IsGlob() {
				return where + ": there is no /proc/sys/net/" + dir + ": " + familyName(dir) + " is off on this machine", false
			}
		}
	}
	if len(c) >= 4 && c[0] == "net" {
		for _, dir := range s.noDefaults {
			fam, _ := path.Match(c[1], dir)
			neighDir, _ := path.Match(c[2], "neigh")
			def, _ := path.Match(c[3], "default")
			if fam && neighDir && def {
				return where + ": only the initial network namespace has net." + dir + ".neigh.default, and netlink did not give this value", true
			}
		}
	}
	switch {
	case k.IsGlob():
		return where, false
	case !known:
		return where + ": arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded", false
	case len(c) == 5 && c[3] != "default" && c[3] != "all" && !s.hasInterface(c[3]):
		return where + ": there is no interface " + c[3] + " in this network namespace", false
	}
	return where + ": this kernel does not have it", false
}

// familyName names an address family by its /proc/sys/net directory.
func familyName(dir string) string {
	for _, f := range ipFamilies {
		if f.dir == dir {
			return f.name
		}
	}
	return dir
}

// hasInterface reports whether any value read is one of ifname's.
func (s *Snapshot) hasInterface(ifname string) bool {
	if slices.Contains(s.Interfaces, ifname) || slices.Contains(s.IPv6Interfaces, ifname) {
		return true
	}
	return slices.ContainsFunc(s.Values, func(v Value) bool {
		c := v.Key.components()
		return len(c) == 5 && c[0] == "net" && (c[2] == "neigh" || c[2] == "conf") && c[3] == ifname
	})
}

// expect judges an Expectation rule, once per key it names.
func (e *evaluation) expect(r *Rule) []Result {
	x := r.Expect
	var keys []Key
	if x.Key.IsGlob() {
		for _, v := range e.s.Values {
			if x.Key.Matches(v.Key) {
				keys = append(keys, v.Key)
			}
		}
	} else if _, ok := e.s.Lookup(x.Key); ok {
		keys = []Key{x.Key}
	}
	if len(keys) == 0 {
		why, mayExist := e.s.absence(x.Key)
		res := Result{Key: string(x.Key), Status: StatusNotVisible, Rule: r.ID, Message: why}
		if r.userGiven() && !mayExist {
			// A rule of the user's on a setting that does not exist is
			// wrong itself, as sysctl(8) says of such a key: it fails,
			// even a warning, rather than pass a check unseen.
			res.Status = StatusFail
			if e.s.Mode == ModeLive {
				res.Message = "no such setting: " + why
			}
		}
		return []Result{res}
	}
	var out []Result
	for _, k := range keys {
		v, _ := e.s.Lookup(k)
		res := Result{Key: string(k), Value: v.Value, Source: v.Source, Rule: r.ID}
		ok, err := x.holds(v.Value)
		switch {
		case err != nil:
			res.Status = r.Severity
			res.Message = fmt.Sprintf("want %s, but %v", x.want(), err)
			if e.s.Mode != ModeLive {
				res.Message += ": the kernel refuses it at boot"
			}
		case ok:
			res.Status = StatusOK
			res.Message = r.good()
			e.persisted(&res, r, k)
		default:
			res.Status = r.Severity
			res.Message = r.broken(x.want())
			if r.eachInterface && e.s.Mode == ModeLive {
				e.interfacesInstead(&res, r, k)
			}
			if res.Status != StatusOK {
				e.pending(&res, r, k)
			}
		}
		out = append(out, res)
	}
	return out
}

// interfacesInstead gives an all-interfaces key that is wanting a second
// look: the kernel takes the larger of all and each interface's own value,
// so the rule is kept when every interface keeps it.
func (e *evaluation) interfacesInstead(res *Result, r *Rule, k Key) {
	comps := k.components()
	leaf := comps[len(comps)-1]
	ifaces, key := e.s.Interfaces, confKey
	if comps[1] == "ipv6" {
		ifaces, key = e.s.IPv6Interfaces, conf6Key
	}
	var lacking []string
	for _, ifname := range ifaces {
		v, ok := e.s.Lookup(key(ifname, leaf))
		if ok {
			if held, err := r.Expect.holds(v.Value); err == nil && held {
				continue
			}
		}
		lacking = append(lacking, ifname)
	}
	switch {
	case len(ifaces) > 0 && len(lacking) == 0:
		res.Status = StatusOK
		res.Message = fmt.Sprintf("all is %s, but every interface has %s = %s (%s): %s",
			res.Value, leaf, r.Expect.Value, strings.Join(ifaces, ", "), r.good())
	case len(lacking) > 0:
		res.Message = fmt.Sprintf("want %s (%s %s not): %s", r.Expect.want(),
			strings.Join(lacking, ", "), words.Plural(len(lacking), "does", "do"), r.Why)
	}
}

// persisted turns an OK into a warning when the value boot sets breaks the
// rule: the good value is lost at the next reboot.
func (e *evaluation) persisted(res *Result, r *Rule, k Key) {
	if e.boot == nil {
		return
	}
	b, ok := e.boot.Lookup(k)
	if !ok {
		return
	}
	if held, err := r.Expect.holds(b.Value); err == nil && held {
		return
	}
	res.Status = StatusWarn
	res.Message = fmt.Sprintf("good now, but %s; %s", revertsTo(b), r.broken(r.Expect.want()))
}

// pending adds to a broken rule that the config files would keep it: they
// were not applied since they changed.
func (e *evaluation) pending(res *Result, r *Rule, k Key) {
	if e.boot == nil {
		return
	}
	b, ok := e.boot.Lookup(k)
	if !ok || b.Source == SourceKernelDefault {
		return
	}
	if held, err := r.Expect.holds(b.Value); err == nil && held {
		res.Message += fmt.Sprintf("; %s sets %s but was not applied: run sysctl --system", b.Source, b.Value)
	}
}

// revertsTo says what boot sets instead of the live value.
func revertsTo(b Value) string {
	if b.Source == SourceKernelDefault {
		return fmt.Sprintf("reverts to %s at reboot (no config file sets it)", b.Value)
	}
	return fmt.Sprintf("reverts to %s at reboot (%s sets it)", b.Value, b.Source)
}

func (r *Rule) good() string {
	if r.Origin != "" {
		return "as " + r.Origin + " wants"
	}
	return r.Good
}

func (r *Rule) broken(want string) string {
	if r.Origin != "" {
		return fmt.Sprintf("want %s, as %s says", want, r.Origin)
	}
	return fmt.Sprintf("want %s: %s", want, r.Why)
}

// checkThresholdOrder wants gc_thresh1 <= gc_thresh2 <= gc_thresh3.
func checkThresholdOrder(f ipFamily) func(*evaluation, *Rule) []Result {
	return func(e *evaluation, r *Rule) []Result {
		res := Result{Key: fmt.Sprintf("net.%s.neigh.default.gc_thresh1..3", f.dir), Rule: r.ID}
		ts, vals, srcs, err := thresholds(e.s, f)
		res.Value = strings.Join(vals, "/")
		res.Source = strings.Join(srcs, ", ")
		switch {
		case err != nil:
			res.Status = StatusNotVisible
			res.Message = err.Error()
			return []Result{res}
		case ts == nil:
			res.Status = r.Severity
			res.Message = "want numbers: " + strings.Join(vals, "/") + " are not all numbers"
			return []Result{res}
		case ts[0] <= ts[1] && ts[1] <= ts[2]:
			res.Status = StatusOK
			res.Message = fmt.Sprintf("no collection below %d entries, forced collection above %d, hard limit %d", ts[0], ts[1], ts[2])
			if ts[0] == 0 {
				res.Message = fmt.Sprintf("collection at any size, forced collection above %d, hard limit %d", ts[1], ts[2])
			}
			if e.boot != nil {
				if bt, _, _, err := thresholds(e.boot, f); err == nil && bt != nil && !(bt[0] <= bt[1] && bt[1] <= bt[2]) {
					res.Status = StatusWarn
					res.Message = fmt.Sprintf("good now, but reverts to %d/%d/%d at reboot; %s", bt[0], bt[1], bt[2], thresholdOrderWhy)
				}
			}
		default:
			res.Status = r.Severity
			res.Message = thresholdOrderWhy
		}
		return []Result{res}
	}
}

const thresholdOrderWhy = "want gc_thresh1 <= gc_thresh2 <= gc_thresh3: they are the floor below which nothing is collected, the soft limit above which collection is forced, and the hard limit; out of order, one of them has no effect"

// thresholds reads a family's gc_thresh1..3: nil numbers when one is not
// a number, an error when one is missing.
func thresholds(s *Snapshot, f ipFamily) (nums []int64, vals, srcs []string, err error) {
	nums = make([]int64, 3)
	for i := range 3 {
		k := neighKey(f, "default", "gc_thresh"+strconv.Itoa(i+1))
		v, ok := s.Lookup(k)
		if !ok {
			return nil, vals, srcs, fmt.Errorf("%s is not visible", k)
		}
		vals = append(vals, v.Value)
		if !slices.Contains(srcs, v.Source) {
			srcs = append(srcs, v.Source)
		}
		n, perr := parseNumber(v.Value)
		if perr != nil || nums == nil {
			nums = nil
			continue
		}
		nums[i] = n
	}
	return nums, vals, srcs, nil
}

// checkTableUsage wants at most half of gc_thresh3 in use.
func checkTableUsage(f ipFamily) func(*evaluation, *Rule) []Result {
	return func(e *evaluation, r *Rule) []Result {
		if e.s.Mode != ModeLive {
			return nil
		}
		res := Result{Key: f.table + ".entries", Source: SourceNetlink, Rule: r.ID}
		t, ok := e.s.Table(f.family)
		t3k := neighKey(f, "default", "gc_thresh3")
		t3, t3ok := e.s.Lookup(t3k)
		limit, perr := parseNumber(t3.Value)
		switch {
		case !ok:
			res.Status, res.Source = StatusNotVisible, ""
			res.Message = fmt.Sprintf("the kernel reported no %s table over netlink", f.family)
			return []Result{res}
		case t.Entries < 0:
			res.Status, res.Source = StatusNotVisible, ""
			res.Message = "the neighbor entries could not be listed over netlink"
			return []Result{res}
		case !t3ok || perr != nil:
			res.Value = strconv.Itoa(t.Entries)
			res.Status = StatusNotVisible
			res.Message = fmt.Sprintf("%s is not visible, so the table's room is not known", t3k)
			return []Result{res}
		}
		res.Value = strconv.Itoa(t.Entries)
		// The kernel counts every namespace's entries but PERMANENT ones
		// against gc_thresh3; it reports only the total with PERMANENT
		// ones. Near the limit, that total is worth a warning all the same.
		if limit > 0 && int64(t.MachineEntries)*10 >= limit*9 {
			res.Status = r.Severity
			res.Message = fmt.Sprintf("the machine's table holds %d entries in all namespaces (PERMANENT ones included, which do not count), against gc_thresh3 %d: at gc_thresh3 the kernel refuses new neighbors (\"neighbour table overflow\"); raise gc_thresh2 and gc_thresh3 (--profile kubernetes)", t.MachineEntries, limit)
			return []Result{res}
		}
		if int64(t.Entries)*2 <= limit {
			res.Status = StatusOK
			res.Message = fmt.Sprintf("%d %s (not PERMANENT), at most half of gc_thresh3 %d", t.Entries, words.Plural(t.Entries, "entry", "entries"), limit)
			return []Result{res}
		}
		res.Status = r.Severity
		res.Message = fmt.Sprintf("want at most half of gc_thresh3 %d: at gc_thresh3 the kernel refuses new neighbors (\"neighbour table overflow\") and connections to new peers fail; raise gc_thresh2 and gc_thresh3 (--profile kubernetes)", limit)
		return []Result{res}
	}
}

// checkCounter wants a table counter at zero.
func checkCounter(f ipFamily, counter string) func(*evaluation, *Rule) []Result {
	return func(e *evaluation, r *Rule) []Result {
		if e.s.Mode != ModeLive {
			return nil
		}
		res := Result{Key: f.table + "." + counter, Source: SourceNetlink, Rule: r.ID}
		t, ok := e.s.Table(f.family)
		if !ok {
			res.Status, res.Source = StatusNotVisible, ""
			res.Message = fmt.Sprintf("the kernel reported no %s table over netlink", f.family)
			return []Result{res}
		}
		n := t.TableFulls
		if counter == "forced_gc_runs" {
			n = t.ForcedGCRuns
		}
		res.Value = strconv.FormatUint(n, 10)
		switch {
		case n == 0 && counter == "table_fulls":
			res.Status = StatusOK
			res.Message = "the table was never full since boot"
		case n == 0:
			res.Status = StatusOK
			res.Message = "no collection had to be forced since boot"
		case counter == "table_fulls":
			res.Status = r.Severity
			res.Message = fmt.Sprintf("want 0: the table was full %d %s since boot and refused new neighbors (\"neighbour table overflow\"); raise gc_thresh3", n, words.Plural(int(min(n, 2)), "time", "times"))
		default:
			res.Status = r.Severity
			res.Message = fmt.Sprintf("want 0: the kernel had to force a collection %d %s since boot, as the table passed gc_thresh2 or gc_thresh3: it runs close to full", n, words.Plural(int(min(n, 2)), "time", "times"))
		}
		return []Result{res}
	}
}

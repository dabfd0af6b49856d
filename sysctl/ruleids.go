package sysctl

// Rule IDs, as reports and policies name them.
const (
	RuleStaleEntries   = "stale-entries"
	RuleThresholdOrder = "threshold-order"
	RuleGCSoftLimit    = "gc-soft-limit"
	RuleOverflow       = "overflow"
	RuleTableUsage     = "table-usage"
	RuleTableFull      = "table-full"
	RuleForcedGC       = "forced-gc"
	RuleARPNotify      = "arp-notify"
	RuleExpect         = "expect"
	RulePolicy         = "policy"
)

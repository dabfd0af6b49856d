// Package diagnose turns what arpdoctor gathered (neighbor entries, table
// parameters and counters, the settings report, probe results, handshake
// findings) into checks with verdicts, and picks the most likely diagnosis.
//
// It is pure: it reads no socket and no file, so every verdict is tested on
// fixed inputs. The doctor command gathers and renders; the exporter
// reuses the same verdicts. Next to each verdict it names the arpdoctor
// command to run next, as a Command whose flags a test checks against the
// real command tree.
package diagnose

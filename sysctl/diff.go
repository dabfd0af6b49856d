package sysctl

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change, as
// diff -u shows them.
const diffContext = 3

// Diff returns the change to the plan's file as a unified diff, "" when
// there is none.
func (p *FixPlan) Diff() string {
	if !p.FileChanged() {
		return ""
	}
	from := "a" + p.Path
	if !p.Exists {
		from = "/dev/null"
	}
	return unifiedDiff(from, "b"+p.Path, p.Old, p.New)
}

// unifiedDiff compares two texts line by line. The files fix writes are a
// few dozen lines, so a quadratic longest-common-subsequence table is
// plenty.
func unifiedDiff(fromName, toName, a, b string) string {
	al, bl := splitLines(a), splitLines(b)
	// lcs[i][j] is the length of the longest common subsequence of al[i:]
	// and bl[j:].
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type edit struct {
		op   byte // ' ', '-', '+'
		line string
		ai   int // line number in a before this edit (0-based)
		bi   int
	}
	var edits []edit
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			edits = append(edits, edit{' ', al[i], i, j})
			i++
			j++
		case i < len(al) && (j == len(bl) || lcs[i+1][j] >= lcs[i][j+1]):
			// Deletions first, as diff -u shows a changed line.
			edits = append(edits, edit{'-', al[i], i, j})
			i++
		default:
			edits = append(edits, edit{'+', bl[j], i, j})
			j++
		}
	}

	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)
	for k := 0; k < len(edits); {
		if edits[k].op == ' ' {
			k++
			continue
		}
		// A hunk runs from diffContext lines before this change to
		// diffContext lines after the last change closer than twice that.
		start := max(k-diffContext, 0)
		end := k
		for end < len(edits) {
			if edits[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(edits) && edits[run].op == ' ' {
				run++
			}
			if run == len(edits) || run-end > 2*diffContext {
				end = min(end+diffContext, len(edits))
				break
			}
			end = run
		}
		var aCount, bCount int
		for _, e := range edits[start:end] {
			if e.op != '+' {
				aCount++
			}
			if e.op != '-' {
				bCount++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(edits[start].ai, aCount), hunkRange(edits[start].bi, bCount))
		for _, e := range edits[start:end] {
			out.WriteByte(e.op)
			out.WriteString(e.line)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

// hunkRange writes a hunk's start and length as diff -u does: an empty
// range names the line before it.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

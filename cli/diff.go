package cli

import (
	"fmt"
	"strings"
)

// This file is a small line diff, used to show what a command is about to
// change in a user's file (config-ssh --dry-run). It is here rather than a
// dependency because it needs only unified output with context, and its
// bounded LCS keeps a huge file from costing quadratic memory.

// splitLines splits text into lines without their line endings.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// unifiedDiff renders the change from a to b as a unified diff with three
// lines of context. The lines both share at the start and the end are
// skipped before the (quadratic) longest-common-subsequence step, so a
// large config with a small block diffs quickly.
func unifiedDiff(nameA, nameB string, a, b []string) string {
	ops := diffLines(a, b)
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from context lines before this change to context lines
		// after the last change closer than 2*context to the previous one.
		start := max(0, i-context)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		stop := min(len(ops), end+context+1)
		aStart, bStart := ops[start].a, ops[start].b
		var aLen, bLen int
		for _, op := range ops[start:stop] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, op := range ops[start:stop] {
			fmt.Fprintf(&out, "%c%s\n", op.kind, op.line)
		}
		i = stop
	}
	return out.String()
}

// hunkRange formats a hunk's "start,length" (start is 1-based; an empty
// range names the line before it, as diff does).
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// diffOp is one line of an edit script: ' ' kept, '-' removed, '+' added;
// a and b are the 0-based positions in each side before this line.
type diffOp struct {
	kind byte
	line string
	a, b int
}

// maxDiffCells bounds the LCS table; past it the middle part is shown as
// removed then added, which is still a correct diff.
const maxDiffCells = 4 << 20

func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	ops := make([]diffOp, 0, len(a)+len(b))
	for i := range pre {
		ops = append(ops, diffOp{' ', a[i], i, i})
	}
	ai, bi := pre, pre
	emit := func(kind byte, line string) {
		ops = append(ops, diffOp{kind, line, ai, bi})
		if kind != '+' {
			ai++
		}
		if kind != '-' {
			bi++
		}
	}
	if (len(ma)+1)*(len(mb)+1) > maxDiffCells {
		for _, l := range ma {
			emit('-', l)
		}
		for _, l := range mb {
			emit('+', l)
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		w := len(mb) + 1
		lcs := make([]int, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				emit(' ', ma[i])
				i++
				j++
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				emit('-', ma[i]) // removals first, as diff prints them
				i++
			default:
				emit('+', mb[j])
				j++
			}
		}
	}
	for k := len(a) - suf; k < len(a); k++ {
		emit(' ', a[k])
	}
	return ops
}

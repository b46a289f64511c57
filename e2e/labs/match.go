package main

import (
	"fmt"
	"strings"
)

// Check compares a command's output with what the guide says it prints.
// Each run must appear on consecutive non-blank output lines, the runs in
// order; nil means every run was found. The error names the guide line
// that was not matched.
func Check(c Command, output string) error {
	lines := nonBlank(output)
	at := 0
	for _, run := range c.Want {
		i := find(run, lines, at)
		if i < 0 {
			return missing(c.File, run, lines, at)
		}
		at = i + len(run)
	}
	return nil
}

// find returns the first index ≥ from where run matches lines one by one,
// or -1.
func find(run Run, lines []string, from int) int {
	for i := from; i+len(run) <= len(lines); i++ {
		ok := true
		for j, w := range run {
			if !lineMatches(w.Text, lines[i+j]) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// missing explains why run was not found: the first of its lines that
// appears nowhere after from, or else that its lines are not consecutive.
func missing(file string, run Run, lines []string, from int) error {
	for _, w := range run {
		found := false
		for _, l := range lines[from:] {
			if lineMatches(w.Text, l) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s:%d: expected a line containing %q, not in the output", file, w.Line, w.Text)
		}
	}
	return fmt.Errorf("%s:%d: lines %d-%d are each in the output but not one after another (put a %s line between them where output may differ)",
		file, run[0].Line, run[0].Line, run[len(run)-1].Line, Gap)
}

// lineMatches says whether out contains want, whitespace runs compared as
// one space, each Gap in want matching any text.
func lineMatches(want, out string) bool {
	out = squash(out)
	for _, part := range strings.Split(squash(want), Gap) {
		part = strings.TrimSpace(part)
		i := strings.Index(out, part)
		if i < 0 {
			return false
		}
		out = out[i+len(part):]
	}
	return true
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func nonBlank(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

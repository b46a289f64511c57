package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Gap is the marker that stands for "any lines, or any text, here": on a
// line of its own between expected lines, or inside one expected line.
const Gap = "…"

// Command is one "$ " line (with its continuation lines) of a console block
// and the output lines it must print.
type Command struct {
	File    string        // the guide, as given on the command line
	Line    int           // the line of the "$ "
	Text    string        // the shell command, continuation lines joined with newlines
	Timeout time.Duration // from the block's info string; 0 = the runner's default
	Want    []Run         // runs of consecutive lines, in order, any lines between runs
}

// Run is a group of expected lines that must appear on consecutive output
// lines (blank lines aside); a Gap line ends one run and starts the next.
type Run []Want

// Want is one expected output line: the output line must contain it, with
// whitespace runs compared as one space and each Gap matching any text.
type Want struct {
	Line int
	Text string
}

// Parse reads a Markdown guide and returns the commands of its console
// blocks in order. Blocks of any other language (text, sh, …) are skipped.
// A malformed console block is an error naming file:line.
func Parse(file string, r io.Reader) ([]Command, error) {
	var (
		cmds    []Command
		inFence bool
		console bool
		open    int           // line of the opening fence
		timeout time.Duration // of the open block
		cur     *Command      // the command being read
		cont    bool          // cur's last line ended with a backslash
		nInBlk  int           // commands in the open block
	)
	flush := func() {
		if cur != nil {
			cmds = append(cmds, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fence := strings.TrimLeft(line, " ")
			if !inFence {
				inFence, open, nInBlk = true, n, 0
				var err error
				console, timeout, err = info(strings.TrimPrefix(fence, "```"))
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", file, n, err)
				}
				continue
			}
			if fence != "```" {
				return nil, fmt.Errorf("%s:%d: a fence inside the block opened at line %d; close it with a bare ``` first", file, n, open)
			}
			if console {
				if cont {
					return nil, fmt.Errorf("%s:%d: the block ends inside a command continued with \\ (line %d)", file, n, cur.Line)
				}
				if nInBlk == 0 {
					return nil, fmt.Errorf("%s:%d: console block has no \"$ \" command; mark it text if it is not run", file, open)
				}
				flush()
			}
			inFence, console = false, false
			continue
		}
		if !inFence || !console {
			continue
		}
		switch {
		case cont:
			part := strings.TrimLeft(line, " ")
			if p, ok := strings.CutPrefix(part, "> "); ok {
				part = strings.TrimLeft(p, " ")
			}
			cur.Text += "\n" + part
			cont = strings.HasSuffix(part, `\`)
		case line == "$" || strings.HasPrefix(line, "$ "):
			flush()
			text := strings.TrimSpace(strings.TrimPrefix(line, "$"))
			if text == "" {
				return nil, fmt.Errorf("%s:%d: \"$\" with no command", file, n)
			}
			cur = &Command{File: file, Line: n, Text: text, Timeout: timeout}
			cont = strings.HasSuffix(text, `\`)
			nInBlk++
		case strings.TrimSpace(line) == "":
			// blank lines are not compared
		case cur == nil:
			return nil, fmt.Errorf("%s:%d: output line before any \"$ \" command in the console block opened at line %d", file, n, open)
		case strings.TrimSpace(line) == Gap:
			if len(cur.Want) > 0 && len(cur.Want[len(cur.Want)-1]) > 0 {
				cur.Want = append(cur.Want, Run{})
			}
		default:
			if len(cur.Want) == 0 {
				cur.Want = append(cur.Want, Run{})
			}
			last := &cur.Want[len(cur.Want)-1]
			*last = append(*last, Want{Line: n, Text: line})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if inFence {
		return nil, fmt.Errorf("%s:%d: code block never closed (``` expected)", file, open)
	}
	for i := range cmds { // a trailing Gap leaves an empty run
		if w := cmds[i].Want; len(w) > 0 && len(w[len(w)-1]) == 0 {
			cmds[i].Want = w[:len(w)-1]
		}
	}
	return cmds, nil
}

// info reads a fence's info string: the language, then optional
// key=value words (only timeout=DURATION is known).
func info(s string) (console bool, timeout time.Duration, err error) {
	words := strings.Fields(s)
	if len(words) == 0 || words[0] != "console" {
		return false, 0, nil
	}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k != "timeout" {
			return false, 0, fmt.Errorf("console block: %q is not an option; expected timeout=DURATION (e.g. timeout=60s)", w)
		}
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			return false, 0, fmt.Errorf("console block: timeout=%q is not a positive duration such as 60s", v)
		}
	}
	return true, timeout, nil
}

package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		md   string
		want []Command
	}{
		{
			name: "command and consecutive expected lines",
			md:   "# guide\n```console\n$ dig x\n;; flags: qr\n;; ANSWER: 1\n```\n",
			want: []Command{{File: "g.md", Line: 3, Text: "dig x", Want: []Run{{{4, ";; flags: qr"}, {5, ";; ANSWER: 1"}}}}},
		},
		{
			name: "a gap line splits runs; blank lines are ignored",
			md:   "```console\n$ a\none\n\n…\ntwo\n…\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "a", Want: []Run{{{3, "one"}}, {{6, "two"}}}}},
		},
		{
			name: "inline gap kept in the line",
			md:   "```console\n$ a\nresult … in … ms\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "a", Want: []Run{{{3, "result … in … ms"}}}}},
		},
		{
			name: "backslash continuation, with and without a > prompt",
			md:   "```console\n$ curl -s \\\n>   -X PATCH \\\n    x\nok\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "curl -s \\\n-X PATCH \\\nx", Want: []Run{{{5, "ok"}}}}},
		},
		{
			name: "several commands, one without output",
			md:   "```console\n$ a\n$ b\nB\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "a"}, {File: "g.md", Line: 3, Text: "b", Want: []Run{{{4, "B"}}}}},
		},
		{
			name: "text, sh and unmarked blocks are not run",
			md:   "```text\n$ netsim break x\n```\n```sh\n$ rm -rf /\n```\n```\n$ no\n```\n```console\n$ yes\n```\n",
			want: []Command{{File: "g.md", Line: 11, Text: "yes"}},
		},
		{
			name: "timeout option",
			md:   "```console timeout=90s\n$ slow\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "slow", Timeout: 90 * time.Second}},
		},
		{
			name: "indented fence (inside a list)",
			md:   "1. step\n   ```console\n$ a\n   ```\n",
			want: []Command{{File: "g.md", Line: 3, Text: "a"}},
		},
		{
			name: "leading and trailing gaps dropped",
			md:   "```console\n$ a\n…\nx\n…\n```\n",
			want: []Command{{File: "g.md", Line: 2, Text: "a", Want: []Run{{{4, "x"}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("g.md", strings.NewReader(tt.md))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, md, want string
	}{
		{"output before a command", "text\n```console\nstray\n$ a\n```\n", "g.md:3: output line before any \"$ \" command in the console block opened at line 2"},
		{"console block with no command", "```console\n\n```\n", "g.md:1: console block has no \"$ \" command"},
		{"block never closed", "x\n```console\n$ a\n", "g.md:2: code block never closed"},
		{"continuation runs off the block", "```console\n$ a \\\n```\n", "g.md:3: the block ends inside a command continued with \\ (line 2)"},
		{"empty command", "```console\n$\n```\n", "g.md:2: \"$\" with no command"},
		{"unknown option", "```console retries=3\n$ a\n```\n", "g.md:1: console block: \"retries=3\" is not an option"},
		{"bad timeout", "```console timeout=soon\n$ a\n```\n", "g.md:1: console block: timeout=\"soon\" is not a positive duration"},
		{"fence with a language inside a block", "```console\n$ a\n```text\n```\n", "g.md:3: a fence inside the block opened at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("g.md", strings.NewReader(tt.md))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	const out = ";; flags: qr rd ra; QUERY: 1, ANSWER: 3\n\n;; ANSWER SECTION:\nwww.example.test.\t20\tIN\tA\t127.0.10.1\n\n;; Query time: 156 msec\n"
	tests := []struct {
		name string
		want []Run
		err  string // "" = match
	}{
		{"one line, whitespace squashed", []Run{{{1, "www.example.test. 20 IN A 127.0.10.1"}}}, ""},
		{"consecutive across a blank output line", []Run{{{1, ";; flags: qr rd ra;"}, {2, ";; ANSWER SECTION:"}}}, ""},
		{"inline gap", []Run{{{1, ";; Query time: … msec"}}}, ""},
		{"runs in order", []Run{{{1, "flags:"}}, {{2, "Query time"}}}, ""},
		{"no expectation", nil, ""},
		{"line missing", []Run{{{7, "NXDOMAIN"}}}, "g.md:7: expected a line containing \"NXDOMAIN\""},
		{"runs out of order", []Run{{{1, "Query time"}}, {{2, "flags:"}}}, "g.md:2: expected a line containing \"flags:\""},
		{"not consecutive without a gap", []Run{{{4, "flags:"}, {5, "Query time"}}}, "g.md:4: lines 4-5 are each in the output but not one after another"},
		{"inline gap keeps order", []Run{{{1, "msec … Query time"}}}, "g.md:1: expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(Command{File: "g.md", Want: tt.want}, out)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Check: %v, want a match", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Check error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

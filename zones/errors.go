package zones

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Error is a zone loading error: which file, which line (0 when the problem
// is not tied to one line, e.g. a missing SOA), why, and the text of the
// record when there is one — what named-checkzone says, so a person can find
// and fix it.
type Error struct {
	File   string
	Line   int
	Reason string
	// Record is the offending record as written (one line, trimmed).
	Record string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": " + e.Reason)
	if e.Record != "" {
		fmt.Fprintf(&b, " (record: %s)", e.Record)
	}
	return b.String()
}

var lineRE = regexp.MustCompile(`^(?:(.*?): )?dns: (.*) at line: (\d+):\d+$`)

// parseErr turns a miekg/dns parse error into an *Error; src is the text
// of file read so far (an $INCLUDEd file is read again from disk).
func parseErr(file string, src []byte, err error) error {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: file, Reason: err.Error()}
	}
	msg := pe.Error()
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: file, Reason: strings.TrimPrefix(msg, "dns: ")}
	}
	line, _ := strconv.Atoi(m[3])
	if m[1] != "" && m[1] != file { // an $INCLUDEd file
		file = m[1]
		src, _ = os.ReadFile(file)
	}
	lines := strings.Split(string(src), "\n")
	reason, start := explain(m[2], lines, line)
	return &Error{File: file, Line: line, Reason: reason, Record: recordText(lines, start, line)}
}

var (
	reasonRE = regexp.MustCompile(`^(.*?): "((?s).*)"$`)
	badRE    = regexp.MustCompile(`^bad (\S+) (\S+)$`)
)

// fieldNames says what a miekg/dns rdata field name expects.
var fieldNames = map[string]string{
	"A": "an IPv4 address", "AAAA": "an IPv6 address", "Pref": "a preference (0-65535)",
	"Priority": "a priority (0-65535)", "Weight": "a weight (0-65535)", "Port": "a port (0-65535)",
	"Mx": "a mail exchange name", "Ns": "a name server name", "Target": "a target name",
	"Txt": "text in double quotes", "CNAME": "a target name", "Ptr": "a target name",
	"Mbox": "the mailbox name (e.g. hostmaster)",
}

const typesHint = "a type such as A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV or TXT"

const soaFields = "serial, refresh, retry, expire and minimum (numbers, or durations like 1h)"

// explain rewrites a miekg/dns reason ("not a TTL: \"FOO\"") into one that
// says what was found and what was expected; it also returns the line the
// record starts on (an SOA often spans lines).
func explain(reason string, lines []string, line int) (string, int) {
	m := reasonRE.FindStringSubmatch(reason)
	if m == nil {
		return reason, line
	}
	what, tok := m[1], m[2]
	blank := strings.TrimSpace(tok) == ""
	switch {
	case what == "not a TTL" || what == "unknown RR type" || strings.HasPrefix(what, "expecting RR type or class"):
		if blank {
			return "the record has no type; expected " + typesHint, line
		}
		return fmt.Sprintf("%q is not a record type, class or TTL; expected %s", tok, typesHint), line
	case strings.HasPrefix(what, "bad SOA"):
		start := soaStart(lines, line)
		open := ""
		if t := recordText(lines, start, line); strings.Contains(t, "(") && !strings.Contains(t, ")") {
			open = fmt.Sprintf("; the ( on line %d is not closed", start)
		}
		if blank {
			return fmt.Sprintf("SOA record ends too early: expected %s; a record on several lines needs them inside ( and )%s", soaFields, open), start
		}
		if f := strings.TrimPrefix(what, "bad SOA "); f != "zone parameter" {
			return fmt.Sprintf("SOA %s %q is not valid", f, tok), start
		}
		return fmt.Sprintf("SOA value %q is not valid: expected %s%s", tok, soaFields, open), start
	}
	if b := badRE.FindStringSubmatch(what); b != nil {
		want, ok := fieldNames[b[2]]
		if !ok {
			want = "a valid " + strings.ToLower(b[2])
		}
		if blank {
			return fmt.Sprintf("%s record ends too early: expected %s", b[1], want), line
		}
		return fmt.Sprintf("%s record: %q is not %s", b[1], tok, want), line
	}
	return fmt.Sprintf("%s: %q", what, tok), line
}

// soaStart is the line (1-based) of the SOA record that ends at line: the
// nearest line at or above it that has an SOA field.
func soaStart(lines []string, line int) int {
	for i := min(line, len(lines)); i >= 1 && i > line-20; i-- {
		for _, f := range strings.Fields(lines[i-1]) {
			if strings.EqualFold(f, "SOA") {
				return i
			}
		}
	}
	return line
}

// recordText is lines from..to (1-based) joined on one line, comments
// dropped, at most 200 bytes.
func recordText(lines []string, from, to int) string {
	var parts []string
	for i := max(from, 1); i <= to && i <= len(lines); i++ {
		l := lines[i-1]
		if c := strings.IndexByte(l, ';'); c >= 0 && !strings.Contains(l[:c], `"`) {
			l = l[:c]
		}
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			parts = append(parts, l)
		}
	}
	s := strings.Join(parts, " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

package lb

import (
	"slices"
	"testing"
)

func TestMethodString(t *testing.T) {
	for _, m := range knownMethods {
		if got := methodString([]byte(m)); got != m {
			t.Errorf("methodString(%q) = %q", m, got)
		}
		b := []byte(m)
		if n := testing.AllocsPerRun(100, func() { _ = methodString(b) }); n != 0 {
			t.Errorf("methodString(%q) allocates %v times, want 0", m, n)
		}
	}
	for _, m := range []string{"PROPFIND", "get", ""} {
		if got := methodString([]byte(m)); got != m {
			t.Errorf("methodString(%q) = %q", m, got)
		}
	}
}

// TestNextToken splits Connection-style lists the way the fast engine
// reads them: comma-separated, trimmed, empty tokens kept.
func TestNextToken(t *testing.T) {
	cases := map[string][]string{
		"close":                 {"close"},
		" keep-alive , Upgrade": {"keep-alive", "Upgrade"},
		",x":                    {"", "x"},
		"a,":                    {"a"},
	}
	for in, want := range cases {
		var got []string
		for v := []byte(in); len(v) > 0; {
			var tok []byte
			tok, v = nextToken(v)
			got = append(got, string(tok))
		}
		if !slices.Equal(got, want) {
			t.Errorf("tokens of %q: %q, want %q", in, got, want)
		}
	}
}

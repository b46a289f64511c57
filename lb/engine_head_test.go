package lb

import "testing"

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

func TestNextToken(t *testing.T) {
	cases := []struct{ in, tok, rest string }{
		{"close", "close", ""},
		{" keep-alive , Upgrade", "keep-alive", " Upgrade"},
		{",x", "", "x"},
		{"a,", "a", ""},
	}
	for _, c := range cases {
		tok, rest := nextToken([]byte(c.in))
		if string(tok) != c.tok || string(rest) != c.rest {
			t.Errorf("nextToken(%q) = %q, %q; want %q, %q", c.in, tok, rest, c.tok, c.rest)
		}
	}
}

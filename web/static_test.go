package web

import (
	"io/fs"
	"regexp"
	"testing"
)

// TestNoExternalReferences: the page works with no internet: no script,
// style, font or image comes from another origin.
func TestNoExternalReferences(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" { // the SVG namespace: a name, not a fetch
				t.Errorf("%s refers to %s: the page must not load anything from the internet", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithSource(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"object", `{"type":"dns.query","name":"a."}`, `{"src":"dnsd","type":"dns.query","name":"a."}`},
		{"spaces", ` { "type":"x" } `, `{"src":"dnsd","type":"x" }`},
		{"empty object", `{}`, `{"src":"dnsd"}`},
		{"not an object", `[1,2]`, `[1,2]`},
		{"text", `hello`, `hello`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(withSource([]byte(c.in), "dnsd")); got != c.want {
				t.Fatalf("withSource(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

package testutil

import (
	"errors"
	"strings"
	"testing"
)

// TestWantErr: WantErr passes the error want asks for and reports any
// other outcome once, naming the call and what was wanted.
func TestWantErr(t *testing.T) {
	check := func(err error, want, report string) {
		t.Helper()
		rec := &recorder{TB: t}
		ok := WantErr(rec, "Validate", err, want)
		if report == "" {
			if !ok || len(rec.errors) != 0 {
				t.Errorf("error %v, want %q: ok %v, reported %q, want it passed", err, want, ok, rec.errors)
			}
			return
		}
		if ok || len(rec.errors) != 1 {
			t.Fatalf("error %v, want %q: ok %v, reported %q, want one report", err, want, ok, rec.errors)
		}
		if !strings.HasPrefix(rec.errors[0], "Validate: ") || !strings.Contains(rec.errors[0], report) {
			t.Errorf("error %v, want %q: reported %q, want it to name the call and say %q", err, want, rec.errors[0], report)
		}
	}
	bad := errors.New("x: 1: must be 2")
	check(nil, "", "")
	check(bad, "x: 1", "")
	check(bad, "", "want none")
	check(nil, "x: 1", `no error, want one naming "x: 1"`)
	check(bad, "y: 2", `want one naming "y: 2"`)
}

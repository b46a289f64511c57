package testutil

import (
	"strings"
	"testing"
)

// WantErr fails the test (t.Errorf) unless err is what want says: none
// for "", else an error whose text contains want (the key, value and
// expectation a config error names). what names the call in the message
// ("Load", "Validate"); it reports whether err was as wanted.
func WantErr(t testing.TB, what string, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: error %v, want none", what, err)
	case want != "" && err == nil:
		t.Errorf("%s: no error, want one naming %q", what, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %v, want one naming %q", what, err, want)
	default:
		return true
	}
	return false
}

package httpcache

import (
	"testing"
	"time"
)

// FuzzControl: any Cache-Control value parses without panicking, into
// durations that are absent (-1), a bare max-stale, or not negative.
func FuzzControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `private="Set-Cookie, X", max-age=1`, "max-stale", "s-maxage=99999999999999999999",
		"no-cache, no-store", `max-age="10"`, "max-age=-1", "stale-while-revalidate=30, stale-if-error=60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c := parseControl([]string{v})
		for _, d := range []time.Duration{c.maxAge, c.sMaxAge, c.minFresh, c.maxStale, c.staleWhileRevalidate, c.staleIfError} {
			if d < -1 {
				t.Fatalf("parseControl(%q): a duration %v below -1", v, d)
			}
		}
		_ = matchETag(v, `"x"`)
	})
}

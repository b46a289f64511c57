package scenario

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusLine is a plain progress line: "  2.0s / 30s  sent …".
var statusLine = regexp.MustCompile(`^\s*([0-9.]+)s / (\S+)( \+ until the steps end)?  sent `)

// TestProgressShowsExtendedLoad: when the steps outrun the load's duration
// the load goes on, and the live line says so (it showed the configured
// 500ms while the load ran for 3 s); its clock starts with the load, after
// the setup (it counted the setup's second too).
func TestProgressShowsExtendedLoad(t *testing.T) {
	var out bytes.Buffer
	_, res := runOnB1(t, "late.yaml", `name: late
load: {rate: 20, duration: 500ms, clients: 2}
setup:
  - sleep: 1s
steps:
  - at: 100ms
    sleep: 2s
`, &out)
	lines := 0
	for _, l := range strings.Split(out.String(), "\n") {
		m := statusLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		lines++
		el, _ := strconv.ParseFloat(m[1], 64)
		if el > res.End+0.05 {
			t.Errorf("%q: %.1fs elapsed, but the load ran %.2fs: the clock started before the setup", l, el, res.End)
		}
		horizon, err := time.ParseDuration(m[2])
		if err != nil {
			t.Errorf("%q: horizon %q: %v", l, m[2], err)
			continue
		}
		if m[3] == "" && el > horizon.Seconds()+0.05 {
			t.Errorf("%q: %.1fs elapsed of %v: the line shows the configured duration while the load runs longer", l, el, horizon)
		}
	}
	if lines == 0 {
		t.Fatalf("no status line in:\n%s", out.String())
	}
	t.Logf("load ran %.2fs (%v past its duration):\n%s", res.End, res.Extended, out.String())
}

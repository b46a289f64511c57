package scenario

import (
	"strings"
	"testing"
)

// TestTimelineLegible: what a projector audience must be able to read off
// the picture. A backend that runs but that lbd keeps out after failures
// is drawn "ejected", not "down"; DNS lanes say which name and region they
// are; an in-lane step label ("kill") is drawn over the failures it caused,
// and a setup step's verb has no trailing colon ("slow", not "slow:").
func TestTimelineLegible(t *testing.T) {
	up := BackendStatus{ID: "b1", State: "up", Healthy: true, Running: true, Version: "v1"}
	ejected := BackendStatus{ID: "b1", State: "down", Ejected: true, Running: true, Version: "v2"}
	res := &Result{Scenario: &Scenario{Name: "lab"}, End: 10,
		Samples: []Sample{{T: 0, Backends: []BackendStatus{up}}, {T: 2, Backends: []BackendStatus{ejected}}, {T: 8, Backends: []BackendStatus{up}}},
		Events:  []Event{{T: 0, Text: "b1 slow: +50ms"}, {T: 2, Text: "kill b1 (no drain)"}},
		Records: []Record{
			{Seq: 0, T: 1, Backend: "b1", Version: "v1", Status: 200},
			{Seq: 1, T: 1.98, Backend: "b1", Status: 502, Cause: "lbd_502", Code: "backend_error", Error: "reset"},
			{Seq: 2, T: 3, Cause: "refused", Error: "connect: connection refused"},
		},
		DNS: []DNSSample{
			{T: 0, Name: "www.example.test", Region: "eu", Answer: "127.0.10.1", TTL: 20},
			{T: 0, Name: "www.example.test", Region: "na", Answer: "127.0.20.1", TTL: 20},
		},
	}
	svg := string(Timeline(res))
	for _, want := range []string{
		`data-state="ejected"`, `url(#p-ejected)`, // the band and its pattern
		`>DNS eu</text>`, `>DNS na</text>`, `>www.example.test</text>`,
		`>slow</text>`,
		`>no backend</text>`, `>refused 1</text>`, // the lane of failures no backend is blamed for, and what they met
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("timeline has no %s", want)
		}
	}
	if strings.Contains(svg, `>slow:</text>`) {
		t.Error(`a lane label reads "slow:"`)
	}
	if fail, kill := strings.Index(svg, `class="failure"`), strings.LastIndex(svg, `>kill</text>`); fail < 0 || kill < fail {
		t.Errorf(`the "kill" label (at %d) is drawn under the failure marks (at %d)`, kill, fail)
	}
	if got := ejected.Lane(); got != "ejected" {
		t.Errorf("a running backend lbd ejected: lane %q, want ejected", got)
	}
	if got := (BackendStatus{ID: "b1", Ejected: true}).Lane(); got != "down" {
		t.Errorf("a backend that does not run: lane %q, want down", got)
	}
}

func TestShortName(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"www.example.test.", 16, "www.example.test"},
		{"popular.example.test", 16, "popular.example…"},
	} {
		if got := shortName(c.in, c.n); got != c.want {
			t.Errorf("shortName(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const goodFile = `
name: lab
description: a teacher's lab
load:
  rate: 50
  duration: 10s
  regions: [eu, na]
  keep_alive: false
  cookies: true
  target: http://www.example.test:8080/
  resolver: 127.0.0.1:1053
steps:
  - at: 2s
    label: start
    drain: b1
  - wait_idle: b1
  - kill: b1
  - start: {backend: b1, version: v2}
  - wait_healthy: b1
  - add: {backend: c1, version: v2, weight: 3}
  - weight: {b2: 19, c1: 1}
  - fail_health: {backend: b2, on: false}
  - slow: {backend: b3, latency: 200ms}
  - errors: {backend: c1, rate: 20%}
  - stop_region: eu
  - dns: {name: www.example.test., type: a, value: 127.0.10.1, ttl: 30}
  - flush_cache: www.example.test.
  - sleep: 1s
  - rollout: {version: v2, backends: [b2, b3], max_surge: 1, max_unavailable: 0}
  - analyze:
      backend: c1
      max_error_rate: 5%
      for: 10s
      rollback:
        - label: rollback
          weight: {c1: 0}
  - remove: c1
expect:
  - failed: 0
  - failed: {is: ">0", from: rollback, version: v2}
  - share: {version: v2, from: start, to: 8s, is: 5%, within: 3%}
  - converge: {version: v2, within: 20s}
variants:
  no-drain:
    steps:
      - kill: b1
    expect:
      - failed: ">0"
`

func TestParseGood(t *testing.T) {
	sc, err := Parse("lab.yaml", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Load.Rate != 50 || sc.Load.Duration != 10*time.Second || sc.Load.KeepAlive || !sc.Load.Cookies || len(sc.Load.Regions) != 2 {
		t.Errorf("load = %+v", sc.Load)
	}
	if len(sc.Steps) != 17 {
		t.Fatalf("%d steps, want 17", len(sc.Steps))
	}
	s0 := sc.Steps[0]
	if !s0.HasAt || s0.At != 2*time.Second || s0.Action != ActDrain || s0.Backend != "b1" || s0.Label != "start" || s0.Line != 13 {
		t.Errorf("step 0 = %+v", s0)
	}
	if s := sc.Steps[3]; s.Action != ActStart || s.Version != "v2" {
		t.Errorf("start step = %+v", s)
	}
	if s := sc.Steps[7]; s.Action != ActFailHealth || s.On {
		t.Errorf("fail_health step = %+v", s)
	}
	if s := sc.Steps[9]; s.Rate != 0.2 {
		t.Errorf("errors step rate = %v", s.Rate)
	}
	if s := sc.Steps[11]; s.Record.Type != "A" || s.Record.TTL != 30 {
		t.Errorf("dns step = %+v", s.Record)
	}
	if r := sc.Steps[14].Rollout; r == nil || r.MaxSurge != 1 || r.MaxUnavailable != 0 || !r.Drain {
		t.Errorf("rollout = %+v", r)
	}
	if a := sc.Steps[15].Analyze; a == nil || a.MaxErrors != 0.05 || len(a.Rollback) != 1 || a.Rollback[0].Label != "rollback" {
		t.Errorf("analyze = %+v", a)
	}
	if e := sc.Expect[1]; e.Op != ">" || e.Count != 0 || e.From.Label != "rollback" || e.Version != "v2" {
		t.Errorf("expect 1 = %+v", e)
	}
	if e := sc.Expect[2]; e.Share != 0.05 || e.Within != 0.03 || e.To.At != 8*time.Second {
		t.Errorf("expect 2 = %+v", e)
	}
	if v := sc.Variants["no-drain"]; !v.HasSteps || len(v.Steps) != 1 || v.Expect[0].Op != ">" {
		t.Errorf("variant = %+v", v)
	}
}

func TestParseRefused(t *testing.T) {
	base := "name: x\nsteps:\n  - drain: b1\n"
	cases := []struct {
		name, file string
		line       int
		want       string
	}{
		{"not yaml", "name: [x", 1, "not valid YAML"},
		{"no name", "steps:\n  - drain: b1\n", 1, "name: missing"},
		{"no steps", "name: x\n", 1, "steps: missing"},
		{"unknown top key", base + "stepz: []\n", 4, `unknown key "stepz"`},
		{"misspelt action", "name: x\nsteps:\n  - at: 1s\n    drian: b1\n", 4, `unknown key "drian"`},
		{"two actions", "name: x\nsteps:\n  - drain: b1\n    kill: b1\n", 3, "exactly one thing"},
		{"bad duration", "name: x\nsteps:\n  - at: 5 seconds\n    drain: b1\n", 3, "want a duration"},
		{"time order", "name: x\nsteps:\n  - at: 5s\n    drain: b1\n  - at: 2s\n    undrain: b1\n", 5, "before the previous"},
		{"unknown backend", "name: x\nsteps:\n  - drain: b9\n", 3, `no backend "b9"`},
		{"bad region", "name: x\nload:\n  regions: [eu, mars]\nsteps:\n  - drain: b1\n", 3, `unknown region "mars"`},
		{"bad rate", "name: x\nload:\n  rate: fast\nsteps:\n  - drain: b1\n", 3, "load.rate"},
		{"bad share", base + "expect:\n  - share: {version: v2, is: 150%, within: 3%}\n", 5, "want a share"},
		{"unknown label", base + "expect:\n  - failed: {is: 0, from: rollback}\n", 5, `no step has the label "rollback"`},
		{"bad count", base + "expect:\n  - failed: some\n", 5, "want a count"},
		{"bad target", "name: x\nload:\n  target: www.example.test\nsteps:\n  - drain: b1\n", 3, "load.target"},
		{"rollout stuck", "name: x\nsteps:\n  - rollout: {version: v2, backends: [b1], max_unavailable: 0}\n", 3, "cannot both be 0"},
		{"add without version", "name: x\nsteps:\n  - add: {backend: c1}\n", 3, "say which version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.file))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			found := false
			for _, le := range fe.Errs {
				if le.Line == c.line && strings.Contains(le.Msg, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("want line %d %q in:\n%v", c.line, c.want, err)
			}
			if !strings.Contains(err.Error(), "f.yaml:") {
				t.Errorf("message does not name the file: %v", err)
			}
		})
	}
}

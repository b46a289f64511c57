package scenario

import (
	"fmt"
	"os"
	"strings"
	"time"

	"netsim/configs"
)

// Open loads a built-in scenario by name (configs/scenarios/NAME.yaml) or
// a scenario file by path (anything ending in .yaml or .yml, or with a /).
func Open(name string) (*Scenario, error) {
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.ContainsRune(name, '/') {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("scenario file: %w", err)
		}
		return Parse(name, data)
	}
	data, err := configs.Scenario(name)
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q; built-in: %s (or give a file path ending in .yaml)", name, strings.Join(configs.Scenarios(), ", "))
	}
	return Parse("configs/scenarios/"+name+".yaml", data)
}

// Builtins parses every built-in scenario, in name order.
func Builtins() ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range configs.Scenarios() {
		sc, err := Open(n)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// Scaled returns the scenario with its clock compressed or stretched by f:
// every `at:`, sleep, analysis window and expectation time is multiplied,
// so that `--duration 10s` runs a 30 s scenario's steps at the same points
// of its load. Health-check intervals are the stack's and do not scale.
func (sc *Scenario) Scaled(f float64) *Scenario {
	if f == 1 || f <= 0 {
		return sc
	}
	mul := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	var steps func([]Step) []Step
	steps = func(in []Step) []Step {
		out := make([]Step, len(in))
		for i, s := range in {
			s.At, s.Duration = mul(s.At), mul(s.Duration)
			if s.Rollout != nil {
				ro := *s.Rollout
				ro.MinReady = mul(ro.MinReady)
				s.Rollout = &ro
			}
			if s.Analyze != nil {
				a := *s.Analyze
				a.For, a.Rollback = mul(a.For), steps(a.Rollback)
				s.Analyze = &a
			}
			out[i] = s
		}
		return out
	}
	out := *sc
	out.Steps = steps(sc.Steps)
	out.Load.Duration = mul(sc.Load.Duration)
	out.Expect = make([]Expect, len(sc.Expect))
	for i, e := range sc.Expect {
		e.From.At, e.To.At = mul(e.From.At), mul(e.To.At)
		if e.Kind != "failover" { // a failover's bound is the DNS TTL and the health checks': real time
			e.Limit = mul(e.Limit)
		}
		out.Expect[i] = e
	}
	return &out
}

package scenario

import (
	"strings"
	"testing"
	"time"
)

// dnsSamples: one sample per 250 ms from 0: answer a until TTL runs out at
// expiry, b after; TTL counting down from ttl at t=0.
func dnsSamples(expiry float64, ttl int) []DNSSample {
	var out []DNSSample
	for i := 0; i < 60; i++ {
		t := float64(i) / 4
		s := DNSSample{T: t, Name: "app.example.test", Answer: "127.0.10.1", TTL: max(0, ttl-int(t))}
		if t >= expiry {
			s.Answer, s.TTL = "127.0.20.1", 10-int(t-expiry)
		}
		out = append(out, s)
	}
	return out
}

func TestCheckAnswerChange(t *testing.T) {
	e := Expect{Kind: "dns", Name: "app.example.test", From: Bound{Label: "change", Set: true}, Old: "127.0.10.1", New: "127.0.20.1"}
	cases := []struct {
		name   string
		dns    []DNSSample
		change time.Duration
		pass   bool
	}{
		{"old until the TTL ran out, then new", dnsSamples(8, 8), 2 * time.Second, true},
		{"new before the TTL ran out", dnsSamples(4, 8), 2 * time.Second, false},
		{"new long after the TTL", dnsSamples(12, 8), 2 * time.Second, false},
		{"never new", dnsSamples(99, 99), 2 * time.Second, false},
		// the TTL rounded up (3 s left at 8.0 s, gone at 10.1 s): the
		// expiry is only known to a second (seen on the running stack)
		{"TTL in whole seconds", []DNSSample{{T: 8, Name: "app.example.test", Answer: "127.0.10.1", TTL: 3},
			{T: 9, Name: "app.example.test", Answer: "127.0.10.1", TTL: 2}, {T: 10, Name: "app.example.test", Answer: "127.0.10.1", TTL: 1},
			{T: 10.25, Name: "app.example.test", Answer: "127.0.20.1", TTL: 10}}, 8 * time.Second, true},
	}
	for _, c := range cases {
		res := &Result{DNS: c.dns, Marks: Marks{"change": c.change}}
		if o := checkDNS(e, res); o.Pass != c.pass {
			t.Errorf("%s: pass %v, want %v (%s)", c.name, o.Pass, c.pass, o.Detail)
		}
	}
}

func TestCheckFailover(t *testing.T) {
	var rs []Record
	for i := 0; i < 300; i++ { // 10 per second for 30 s, all from Europe
		r := Record{Seq: i, T: float64(i) / 10, Region: "eu", Resolved: "127.0.10.1"}
		switch {
		case r.T >= 5 && r.T < 17:
			r.Cause, r.Resolved = "refused", ""
		case r.T >= 17:
			r.Resolved = "127.0.20.1"
		}
		rs = append(rs, r)
	}
	res := &Result{Records: rs, Marks: Marks{"outage": 5 * time.Second}}
	e := Expect{Kind: "failover", Region: "eu", From: Bound{Label: "outage", Set: true}, Limit: 23 * time.Second}
	o := checkDNS(e, res)
	if !o.Pass || !strings.Contains(o.Detail, "12s") {
		t.Errorf("failover: %v %s; want pass after 12s", o.Pass, o.Detail)
	}
	e.Limit = 10 * time.Second
	if o := checkDNS(e, res); o.Pass {
		t.Errorf("12 s passed a 10 s bound: %s", o.Detail)
	}
}

func TestCheckUpstream(t *testing.T) {
	res := &Result{Measures: map[string]float64{"herd-on": 1, "herd-off": 37}}
	for _, c := range []struct {
		e    Expect
		pass bool
	}{
		{Expect{Kind: "upstream", Step: "herd-on", Op: "==", Count: 1}, true},
		{Expect{Kind: "upstream", Step: "herd-off", Op: ">", Count: 1}, true},
		{Expect{Kind: "upstream", Step: "herd-off", Op: "<=", Count: 2}, false},
		{Expect{Kind: "upstream", Step: "nope", Op: "==", Count: 1}, false},
	} {
		if o := checkDNS(c.e, res); o.Pass != c.pass {
			t.Errorf("%+v: pass %v, want %v (%s)", c.e, o.Pass, c.pass, o.Detail)
		}
	}
}

func TestParseDNSParts(t *testing.T) {
	sc, err := Parse("lab.yaml", []byte(`name: lab
setup:
  - resolver: {prefetch: false}
  - dns: {name: app.example.test, type: A, value: 127.0.10.1, ttl: 10}
watch: [app.example.test, {name: www.example.test, region: eu}]
steps:
  - label: h
    herd: {name: app.example.test, clients: 20}
expect:
  - upstream: {step: h, is: "<=1"}
  - failover: {region: eu, from: h, within: 23s}
  - dns: {name: app.example.test, from: h, old: 127.0.10.1, new: 127.0.20.1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Setup) != 2 || *sc.Setup[0].Prefetch || len(sc.Watch) != 2 || sc.Watch[1].Region != "eu" || sc.Steps[0].Clients != 20 || len(sc.Expect) != 3 {
		t.Errorf("parsed %+v", sc)
	}
	_, err = Parse("bad.yaml", []byte("name: bad\nsteps:\n  - herd: {clients: 1}\n  - resolver: {}\nwatch: [{region: mars}]\nexpect:\n  - upstream: {is: 1}\n"))
	for _, want := range []string{"bad.yaml:3:", "bad.yaml:4:", "bad.yaml:5:", "bad.yaml:7:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestTimelineDNSLane(t *testing.T) {
	res := &Result{Scenario: &Scenario{Name: "dns-change"}, End: 15, DNS: dnsSamples(8, 8)}
	svg := string(Timeline(res))
	for _, want := range []string{`class="dns-lane" data-name="app.example.test"`, `data-answer="127.0.10.1"`, `data-answer="127.0.20.1"`, `class="dns-change"`, `class="ttl"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("timeline has no %s", want)
		}
	}
}

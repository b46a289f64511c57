package scenario

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// A DNS lane per watched name: the answer the resolver gave as bands
// (each new answer its own band, its text on it) and the TTL it had left
// as a line falling to 0 — the cache counting down, then refilled.
const tlDNSH = 110

var dnsFills = []string{"#e8f1fb", "#fdf0dc", "#e6f5ee", "#f6e6f0"}

// dnsKeys are the watched lanes, in the order first seen.
func (t *timeline) dnsKeys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, s := range t.res.DNS {
		if !seen[s.Key()] {
			seen[s.Key()] = true
			keys = append(keys, s.Key())
		}
	}
	return keys
}

func (t *timeline) dnsHeight() float64 {
	return float64(len(t.dnsKeys())) * (tlDNSH + tlLaneGap)
}

// dnsLanes draws the lanes below the backends' from y.
func (t *timeline) dnsLanes(y float64) {
	maxTTL := 1
	for _, s := range t.res.DNS {
		maxTTL = max(maxTTL, s.TTL)
	}
	answers := map[string]int{}
	for i, key := range t.dnsKeys() {
		y0 := y + float64(i)*(tlDNSH+tlLaneGap)
		var ss []DNSSample
		for _, s := range t.res.DNS {
			if s.Key() == key {
				ss = append(ss, s)
			}
		}
		t.f(`<g class="dns-lane" data-name="%s">`+"\n", html.EscapeString(key))
		t.f(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="#fafafa" stroke="#999"/>`+"\n", tlLeft, y0, t.plotW, tlDNSH)
		// Which lane is which, on the left: "DNS eu" over the name asked,
		// then what the line is (several lanes may be drawn).
		head := "DNS"
		if ss[0].Region != "" {
			head += " " + ss[0].Region
		}
		t.f(`<text class="dns-head" x="%d" y="%.1f" font-size="%d" font-weight="bold" text-anchor="end" fill="#111">%s</text>`+"\n", tlLeft-14, y0+32, tlFont+2, html.EscapeString(head))
		t.f(`<text class="dns-name" x="%d" y="%.1f" font-size="16" text-anchor="end" fill="#111">%s</text>`+"\n", tlLeft-14, y0+58, html.EscapeString(shortName(ss[0].Name, 16)))
		t.f(`<text x="%d" y="%.1f" font-size="16" text-anchor="end" fill="#0072B2">TTL line, top %d s</text>`+"\n", tlLeft-14, y0+82, maxTTL)
		for j := 0; j < len(ss); {
			k := j
			for k+1 < len(ss) && ss[k+1].Answer == ss[j].Answer && ss[k+1].Err == ss[j].Err {
				k++
			}
			from, to := ss[j].T, t.end
			if k+1 < len(ss) {
				to = ss[k+1].T
			}
			ans := ss[j].Answer
			if ss[j].Err != "" {
				ans = "no answer"
			}
			if _, ok := answers[ans]; !ok {
				answers[ans] = len(answers)
			}
			x0, x1 := t.x(from), t.x(to)
			t.f(`<rect class="dns-answer" data-answer="%s" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s answered %s from %.1fs to %.1fs</title></rect>`+"\n",
				html.EscapeString(ans), x0, y0+1, math.Max(x1-x0, 1), tlDNSH-2, dnsFills[answers[ans]%len(dnsFills)], html.EscapeString(key), html.EscapeString(ans), from, to)
			if x1-x0 > float64(len(ans))*11+10 {
				t.f(`<text x="%.1f" y="%.1f" font-size="20" font-weight="bold" fill="#111">%s</text>`+"\n", x0+8, y0+26, html.EscapeString(ans))
			}
			if j > 0 { // the answer changed here
				t.f(`<line class="dns-change" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#111" stroke-width="3"/>`+"\n", x0, y0, x0, y0+tlDNSH)
			}
			j = k + 1
		}
		var pts []string
		for _, s := range ss {
			if s.Err == "" {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", t.x(s.T), y0+tlDNSH-8-float64(s.TTL)/float64(maxTTL)*(tlDNSH-44)))
			}
		}
		t.f(`<polyline class="ttl" points="%s" fill="none" stroke="#0072B2" stroke-width="3"><title>%s: the TTL left in the resolver's cache (top: %d s)</title></polyline>`+"\n",
			strings.Join(pts, " "), html.EscapeString(key), maxTTL)
		t.f("</g>\n")
	}
}

// shortName fits a DNS name in n characters for a lane's label: without
// its final dot, cut on the right ("popular.exampl…") when still too long.
func shortName(name string, n int) string {
	r := []rune(strings.TrimSuffix(name, "."))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

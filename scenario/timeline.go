package scenario

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// The timeline is drawn for a projector: big type, one lane per backend,
// versions told apart by shape as well as colour (Okabe-Ito palette, safe
// for colour-blind readers), failures as large crosses with a tooltip.
const (
	tlWidth    = 1800
	tlLeft     = 170 // lane names
	tlRight    = 40
	tlLaneH    = 130
	tlLaneGap  = 14
	tlFont     = 24
	tlRowH     = 30 // one row of step labels
	tlMaxRows  = 5
	tlDotR     = 6
	tlFailSize = 11
)

type versionStyle struct{ shape, fill, name string }

var versionStyles = []versionStyle{
	{"circle", "#0072B2", "blue circle"},
	{"triangle", "#E69F00", "orange triangle"},
	{"square", "#009E73", "green square"},
	{"diamond", "#CC79A7", "pink diamond"},
}

type bandStyle struct{ fill, pattern, text string }

var bandStyles = map[string]bandStyle{
	"up":          {"#ffffff", "", "#555"},
	"starting":    {"#fff1b8", "url(#p-starting)", "#6b5200"},
	"draining":    {"#ffd9a8", "url(#p-draining)", "#7a3d00"},
	"down":        {"#8a8a8a", "url(#p-down)", "#ffffff"},
	"maintenance": {"#d9c8f0", "url(#p-maintenance)", "#3d2466"},
	"ejected":     {"#f2b8a6", "url(#p-ejected)", "#6b1d00"},
}

var bandOrder = []string{"up", "starting", "draining", "down", "ejected", "maintenance"}

// bandTips say what a state means, in a band's tooltip.
var bandTips = map[string]string{
	"ejected": " (running, but lbd keeps it out after failures in a row: passive ejection, until its cooldown ends and checks pass)",
	"down":    " (not running, or failing lbd's health checks)",
}

type timeline struct {
	b        bytes.Buffer
	res      *Result
	end      float64
	lanes    []string
	laneOf   map[string]int
	plotW    float64
	top      float64
	height   float64
	versions map[string]versionStyle
	// laneLabels are the in-lane step labels, drawn over the dots and
	// failure marks so that a burst of failures does not hide its "kill".
	laneLabels []string
}

func (t *timeline) x(sec float64) float64 {
	return tlLeft + t.plotW*math.Max(0, math.Min(sec, t.end))/t.end
}

func (t *timeline) laneY(i int) float64 { return t.top + float64(i)*(tlLaneH+tlLaneGap) }

func (t *timeline) f(format string, args ...any) { fmt.Fprintf(&t.b, format, args...) }

// Timeline draws a run as a self-contained SVG.
func Timeline(res *Result) []byte {
	t := &timeline{res: res, end: math.Max(res.End, 0.001), laneOf: map[string]int{}, versions: map[string]versionStyle{}}
	t.plotW = tlWidth - tlLeft - tlRight
	for i, v := range res.Versions() {
		t.versions[v] = versionStyles[min(i, len(versionStyles)-1)]
	}
	t.collectLanes()
	rows := t.stepRows()
	nrows := 0
	for _, r := range rows {
		nrows = max(nrows, r+1)
	}
	t.top = 70 + float64(nrows)*tlRowH + 10
	backEnd := t.laneY(len(t.lanes))
	lanesEnd := backEnd + t.dnsHeight()
	t.height = lanesEnd + 60 + 150
	t.f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %.0f" width="%d" height="%.0f" font-family="DejaVu Sans, Verdana, Arial, sans-serif" role="img">`+"\n", tlWidth, t.height, tlWidth, t.height)
	t.f(`<title>%s</title>`+"\n", html.EscapeString(res.Scenario.Name+" timeline"))
	t.defs()
	t.f(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	s := res.Stats()
	t.f(`<text x="%d" y="40" font-size="32" font-weight="bold" fill="#111">%s — %d requests, %d failed</text>`+"\n", tlLeft, html.EscapeString(res.Scenario.Name), s.Sent, s.Failed)
	t.bands()
	t.dnsLanes(backEnd)
	t.axis(lanesEnd)
	t.steps(rows, lanesEnd)
	t.dots()
	t.f("<g class=\"step-labels\">%s</g>\n", strings.Join(t.laneLabels, ""))
	t.legend(lanesEnd + 70)
	t.f("</svg>\n")
	return t.b.Bytes()
}

// collectLanes: every backend seen in a state sample or an answer, in
// name order, then a lane for failures no backend can be blamed for.
func (t *timeline) collectLanes() {
	seen := map[string]bool{}
	for _, s := range t.res.Samples {
		for _, b := range s.Backends {
			seen[b.ID] = true
		}
	}
	orphan := false
	for i := range t.res.Records {
		if b := t.res.Records[i].Backend; b != "" {
			seen[b] = true
		} else {
			orphan = true
		}
	}
	t.lanes = sortedKeys(seen)
	if orphan {
		t.lanes = append(t.lanes, "")
	}
	for i, l := range t.lanes {
		t.laneOf[l] = i
	}
}

func (t *timeline) defs() {
	t.f(`<defs>
<pattern id="p-starting" width="14" height="14" patternUnits="userSpaceOnUse"><rect width="14" height="14" fill="#fff1b8"/><circle cx="7" cy="7" r="2" fill="#c9a200"/></pattern>
<pattern id="p-draining" width="16" height="16" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="16" height="16" fill="#ffd9a8"/><rect width="5" height="16" fill="#f0b060"/></pattern>
<pattern id="p-down" width="14" height="14" patternUnits="userSpaceOnUse"><rect width="14" height="14" fill="#8a8a8a"/><path d="M0 0L14 14M14 0L0 14" stroke="#6a6a6a" stroke-width="2"/></pattern>
<pattern id="p-maintenance" width="12" height="12" patternUnits="userSpaceOnUse"><rect width="12" height="12" fill="#d9c8f0"/><rect y="5" width="12" height="2" fill="#a98bd6"/></pattern>
<pattern id="p-ejected" width="16" height="16" patternUnits="userSpaceOnUse"><rect width="16" height="16" fill="#f2b8a6"/><path d="M3 8h10M8 3v10" stroke="#d9785a" stroke-width="2"/></pattern>
</defs>
`)
}

// bands draws each backend's states from the samples.
func (t *timeline) bands() {
	for i, id := range t.lanes {
		y := t.laneY(i)
		name := id
		if id == "" {
			name = "no backend"
		}
		t.f(`<g class="lane" data-backend="%s">`+"\n", html.EscapeString(id))
		t.f(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="#f7f7f7" stroke="#999"/>`+"\n", tlLeft, y, t.plotW, tlLaneH)
		size := tlFont + 6
		if id == "" {
			size = tlFont - 4
		}
		t.f(`<text x="%d" y="%.1f" font-size="%d" font-weight="bold" text-anchor="end" fill="#111">%s</text>`+"\n", tlLeft-14, y+tlLaneH/2+10, size, html.EscapeString(name))
		if id == "" { // what these requests met instead: "refused 400"
			for k, c := range t.orphanCauses() {
				t.f(`<text class="lane-causes" x="%d" y="%.1f" font-size="18" text-anchor="end" fill="#333">%s</text>`+"\n", tlLeft-14, y+tlLaneH/2+34+float64(k)*20, html.EscapeString(c))
			}
		}
		var cur string
		var from float64
		flush := func(to float64) {
			if cur == "" {
				return
			}
			st := bandStyles[cur]
			fill := st.fill
			if st.pattern != "" {
				fill = st.pattern
			}
			x0, x1 := t.x(from), t.x(to)
			t.f(`<rect class="band band-%s" data-state="%s" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %s%s from %.1fs to %.1fs</title></rect>`+"\n",
				cur, cur, x0, y, math.Max(x1-x0, 1), tlLaneH, fill, html.EscapeString(id), cur, bandTips[cur], from, to)
			if cur != "up" && x1-x0 > float64(len(cur))*13+10 {
				t.f(`<text x="%.1f" y="%.1f" font-size="22" font-weight="bold" fill="%s" text-anchor="middle" paint-order="stroke" stroke="%s" stroke-width="4">%s</text>`+"\n",
					(x0+x1)/2, y+tlLaneH-12, st.text, st.fill, cur)
			}
		}
		for _, s := range t.res.Samples {
			state := ""
			for _, b := range s.Backends {
				if b.ID == id {
					state = b.Lane()
				}
			}
			if state != cur {
				flush(s.T)
				cur, from = state, s.T
			}
		}
		flush(t.end)
		t.f("</g>\n")
	}
}

// orphanCauses counts the causes of the failures no backend is blamed
// for, most frequent first, at most three: "refused 400".
func (t *timeline) orphanCauses() []string {
	n := map[string]int{}
	for i := range t.res.Records {
		if r := &t.res.Records[i]; r.Backend == "" && !r.OK() {
			n[r.Cause]++
		}
	}
	causes := sortedKeys(n)
	sort.SliceStable(causes, func(i, j int) bool { return n[causes[i]] > n[causes[j]] })
	out := make([]string, 0, 3)
	for _, c := range causes[:min(len(causes), 3)] {
		out = append(out, fmt.Sprintf("%s %d", c, n[c]))
	}
	return out
}

func (t *timeline) axis(bottom float64) {
	step := niceStep(t.end)
	t.f(`<g class="axis" font-size="%d" fill="#222">`+"\n", tlFont-4)
	for s := 0.0; s <= t.end+1e-9; s += step {
		x := t.x(s)
		t.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>`+"\n", x, t.top, x, bottom)
		t.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%gs</text>`+"\n", x, bottom+28, s)
	}
	t.f("</g>\n")
}

func niceStep(end float64) float64 {
	for _, s := range []float64{0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300} {
		if end/s <= 16 {
			return s
		}
	}
	return 600
}

// stepRows puts each step label in the first row where it does not
// overlap the one before; -1: no room (the marker keeps its tooltip).
func (t *timeline) stepRows() []int {
	rows := make([]int, len(t.res.Events))
	ends := make([]float64, tlMaxRows)
	for i := range ends {
		ends[i] = -1
	}
	for i, e := range t.res.Events {
		rows[i] = -1
		if _, ok := t.eventLane(e); ok {
			continue
		}
		x := t.x(e.T)
		w := float64(len([]rune(stepText(e))))*12.5 + 16
		for r := range ends {
			if x > ends[r] {
				rows[i], ends[r] = r, x+w
				break
			}
		}
	}
	return rows
}

func stepText(e Event) string {
	s := e.Text
	if e.Label != "" && !strings.Contains(e.Text, e.Label) {
		s = e.Label + ": " + s
	}
	if e.Err != "" {
		s += " ✗"
	}
	return s
}

// laneVerb is what an event did to its lane's backend: "drain", "kill", "healthy".
func laneVerb(text, id string) string {
	w := strings.Fields(text)
	if len(w) == 0 {
		return ""
	}
	if w[0] == id && len(w) > 1 {
		return strings.TrimRight(w[1], ":")
	}
	return strings.TrimRight(w[0], ":")
}

// eventLane finds the lane of an unlabelled event about one backend
// ("drain b1", "b1 healthy"): it is drawn in that lane, not on top.
func (t *timeline) eventLane(e Event) (int, bool) {
	if e.Label != "" || e.Err != "" {
		return 0, false
	}
	words := strings.Fields(e.Text)
	for _, w := range words[:min(2, len(words))] {
		if i, ok := t.laneOf[w]; ok && w != "" {
			return i, true
		}
	}
	return 0, false
}

func (t *timeline) steps(rows []int, bottom float64) {
	laneEnd := make([]float64, len(t.lanes))
	for i, e := range t.res.Events {
		x := t.x(e.T)
		color := "#333"
		if e.Err != "" {
			color = "#D55E00"
		}
		tip := fmt.Sprintf("%.2fs %s", e.T, e.Text)
		if e.Label != "" {
			tip += " [" + e.Label + "]"
		}
		if e.Err != "" {
			tip += ": " + e.Err
		}
		t.f(`<g class="step"><title>%s</title>`, html.EscapeString(tip))
		if lane, ok := t.eventLane(e); ok {
			y := t.laneY(lane)
			t.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-width="2" stroke-dasharray="4 4"/>`, x, y, x, y+tlLaneH)
			if verb := laneVerb(e.Text, t.lanes[lane]); verb != "" && x > laneEnd[lane] {
				t.laneLabels = append(t.laneLabels, fmt.Sprintf(`<text x="%.1f" y="%.1f" font-size="18" fill="#111" paint-order="stroke" stroke="#fff" stroke-width="4">%s</text>`, x+3, y+18, html.EscapeString(verb)))
				laneEnd[lane] = x + float64(len(verb))*11 + 8
			}
			t.f("</g>\n")
			continue
		}
		t.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5" stroke-dasharray="8 5"/>`, x, t.top-6, x, bottom, color)
		if rows[i] >= 0 {
			y := 70 + float64(rows[i]+1)*tlRowH - 8
			t.f(`<text x="%.1f" y="%.1f" font-size="20" fill="%s" paint-order="stroke" stroke="#fff" stroke-width="5">%s</text>`, x+4, y, color, html.EscapeString(stepText(e)))
		}
		t.f("</g>\n")
	}
}

// shape draws one version mark centred on (x, y).
func shape(st versionStyle, x, y, r float64) string {
	switch st.shape {
	case "triangle":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"`, x, y-r*1.2, x+r*1.1, y+r*0.8, x-r*1.1, y+r*0.8, st.fill)
	case "square":
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"`, x-r*0.85, y-r*0.85, r*1.7, r*1.7, st.fill)
	case "diamond":
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"`, x, y-r*1.2, x+r*1.2, y, x, y+r*1.2, x-r*1.2, y, st.fill)
	}
	return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"`, x, y, r, st.fill)
}

func failMark(x, y, s float64) string {
	return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="#ffffff" stroke-width="7" stroke-linecap="round"/><path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="#D55E00" stroke-width="4" stroke-linecap="round"/>`,
		x-s, y-s, x+s, y+s, x-s, y+s, x+s, y-s, x-s, y-s, x+s, y+s, x-s, y+s, x+s, y-s)
}

// dots draws every answer, then every failure on top.
func (t *timeline) dots() {
	t.f(`<g class="answers" opacity="0.75">` + "\n")
	for i := range t.res.Records {
		r := &t.res.Records[i]
		if !r.OK() {
			continue
		}
		x, y := t.x(r.T), t.jitterY(r)
		t.f(`%s class="dot" data-version="%s"/>`+"\n", shape(t.versions[r.Version], x, y, tlDotR), html.EscapeString(r.Version))
	}
	t.f("</g>\n<g class=\"failures\">\n")
	for i := range t.res.Records {
		r := &t.res.Records[i]
		if r.OK() {
			continue
		}
		x, y := t.x(r.T), t.jitterY(r)
		tip := fmt.Sprintf("%.2fs %s: %s", r.T, strings.TrimSpace(r.Cause+" "+r.Code), r.Error)
		if r.Backend != "" {
			tip = fmt.Sprintf("%.2fs backend %s — %s: %s", r.T, r.Backend, strings.TrimSpace(r.Cause+" "+r.Code), r.Error)
		}
		t.f(`<g class="failure" data-cause="%s" data-backend="%s"><title>%s</title>%s</g>`+"\n",
			html.EscapeString(r.Cause), html.EscapeString(r.Backend), html.EscapeString(tip), failMark(x, y, tlFailSize))
	}
	t.f("</g>\n")
}

// jitterY spreads a lane's marks vertically, the same way every time.
func (t *timeline) jitterY(r *Record) float64 {
	z := uint64(r.Seq) + 0x9e3779b97f4a7c15 // splitmix64: no stripes from round robin
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	frac := float64(z%1000) / 1000
	return t.laneY(t.laneOf[r.Backend]) + 16 + frac*(tlLaneH-48)
}

func (t *timeline) legend(y float64) {
	t.f(`<g class="legend" font-size="%d" fill="#111">`+"\n", tlFont-2)
	x := float64(tlLeft)
	t.f(`<text x="%.1f" y="%.1f" font-weight="bold">answers:</text>`, x, y+8)
	x += 140
	vs := sortedKeys(t.versions)
	sort.Strings(vs)
	for _, v := range vs {
		st := t.versions[v]
		t.f(`%s/>`, shape(st, x, y, 10))
		t.f(`<text x="%.1f" y="%.1f">%s (%s)</text>`, x+18, y+8, html.EscapeString(orDash(v)), st.name)
		x += 70 + float64(len(st.name)+len(v))*12
	}
	t.f(`%s<text x="%.1f" y="%.1f">failed request (hover: cause)</text>`, failMark(x, y, 10), x+20, y+8)
	y += 50
	x = tlLeft
	t.f(`<text x="%.1f" y="%.1f" font-weight="bold">backend:</text>`, x, y+8)
	x += 140
	for _, name := range bandOrder {
		st := bandStyles[name]
		fill := st.fill
		if st.pattern != "" {
			fill = st.pattern
		}
		t.f(`<rect x="%.1f" y="%.1f" width="44" height="30" fill="%s" stroke="#666"/><text x="%.1f" y="%.1f">%s</text>`, x, y-15, fill, x+54, y+8, name)
		x += 80 + float64(len(name))*14
	}
	t.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-width="2" stroke-dasharray="6 4"/><text x="%.1f" y="%.1f">step</text>`, x, y-18, x, y+18, x+10, y+8)
	t.f("\n</g>\n")
}

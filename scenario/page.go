package scenario

import (
	"bytes"
	"fmt"
	"html"
	"strings"
)

// TimelinePage is one self-contained HTML file: the summary, the timeline
// SVG inline and a table of the failures. No script, font or style from
// anywhere else.
func TimelinePage(res *Result, svg []byte) []byte {
	var b bytes.Buffer
	var sum bytes.Buffer
	res.Summary(&sum)
	name := html.EscapeString(res.Scenario.Name)
	fmt.Fprintf(&b, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%s — netsim scenario</title>
<style>
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 24px; color: #111; background: #fff; font-size: 20px; }
h1 { font-size: 34px; margin: 0 0 8px; }
p.desc { font-size: 22px; max-width: 70em; }
.timeline svg { width: 100%%; height: auto; border: 1px solid #ccc; }
pre { font-size: 18px; background: #f4f4f4; padding: 12px; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 18px; }
td, th { border: 1px solid #bbb; padding: 4px 10px; text-align: left; }
th { background: #eee; }
</style></head><body>
<h1>%s</h1>
<p class="desc">%s</p>
<div class="timeline">
`, name, name, html.EscapeString(res.Scenario.Description))
	b.Write(svg)
	fmt.Fprintf(&b, "</div>\n<h2>Summary</h2>\n<pre class=\"summary\">%s</pre>\n", html.EscapeString(strings.TrimSpace(sum.String())))
	writeFailures(&b, res)
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

// writeFailures groups the failed requests by backend and cause: how many,
// when, and what lbd or the connection said.
func writeFailures(b *bytes.Buffer, res *Result) {
	type group struct {
		backend, cause string
		n              int
		first, last    float64
		example        string
	}
	groups := map[string]*group{}
	var order []string
	for i := range res.Records {
		r := &res.Records[i]
		if r.OK() {
			continue
		}
		cause := strings.TrimSpace(r.Cause + " " + r.Code)
		k := r.Backend + "\x00" + cause
		g := groups[k]
		if g == nil {
			g = &group{backend: orDash(r.Backend), cause: cause, first: r.T, example: r.Error}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		g.last = r.T
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>Failed requests, by backend and cause</h2>\n<table class=\"failures\"><tr><th>backend</th><th>cause</th><th>requests</th><th>sent between</th><th>for example</th></tr>\n")
	for _, k := range order {
		g := groups[k]
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%.2fs – %.2fs</td><td>%s</td></tr>\n", html.EscapeString(g.backend), html.EscapeString(g.cause), g.n, g.first, g.last, html.EscapeString(g.example))
	}
	b.WriteString("</table>\n<p>Every request is in the records file (JSON Lines), with its client, address, status, latency and cause.</p>\n")
}

package lb

import (
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// The dashboard is a read-only status page on the admin listener, in the
// spirit of HAProxy's stats page: one table per pool, refreshed every two
// seconds, plus the curl lines that change things. It reads the same views
// as the JSON API.
var dashboardTmpl = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"since": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return time.Since(*t).Round(100*time.Millisecond).String() + " ago"
	},
	"load": func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p) + "%"
	},
	"ms": func(f float64) string {
		if f == 0 {
			return ""
		}
		return strconv.FormatFloat(f, 'f', -1, 64) + " ms"
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>lbd</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child,td.l{text-align:left}
tr.up td.s{background:#c8f0c8} tr.down td.s{background:#f6c0c0}
tr.draining td.s{background:#f8e3a0} tr.maintenance td.s{background:#c9d3f0}
code{background:#f3f3f3;padding:0 .2em}
</style></head><body>
<h1>lbd</h1>
<p>{{range .Frontends}}frontend <b>{{.Name}}</b> on <code>{{.Addr}}</code> → pool <b>{{.Pool}}</b>{{if .TLS}} (HTTPS){{end}}; {{end}}refreshed every 2 s at {{.Now}}</p>
{{range .Pools}}
<h2>pool {{.Pool.Name}} — {{.Pool.Policy}}{{if ne .Pool.Sticky "none"}}, sticky {{.Pool.Sticky}}{{end}} — {{.Pool.Available}}/{{.Pool.Backends}} available, {{.Pool.InFlight}} in flight</h2>
<table>
<tr><th>backend</th><th>address</th><th>state</th><th>weight</th><th>effective</th><th>in flight</th><th>requests</th><th>failures</th><th>resp. time</th><th>load</th><th>last check</th><th>drained</th><th>source</th></tr>
{{range .Backends}}<tr class="{{.State}}"><td>{{.ID}}</td><td class="l"><code>{{.Address}}</code></td><td class="s">{{.State}}</td><td>{{.Weight}}</td><td>{{.EffectiveWeight}}</td><td>{{.InFlight}}</td><td>{{.Requests}}</td><td>{{.Failures}}</td><td>{{ms .ResponseTimeEWMAms}}</td><td>{{load .Load}}</td><td>{{if .LastCheckAt}}{{if .LastCheckOK}}ok{{else}}fail{{end}} {{since .LastCheckAt}}{{end}}</td><td>{{since .DrainedAt}}</td><td>{{.Source}}</td></tr>
{{end}}</table>
{{end}}
<h3>Change things</h3>
<pre>TOKEN=…   # printed at start, or admin.token / LBD_ADMIN_TOKEN
curl -s -X PATCH -H "Authorization: Bearer $TOKEN" -d '{"state":"draining"}' http://{{.Admin}}/api/v1/pools/POOL/backends/ID
curl -s -X PATCH -H "Authorization: Bearer $TOKEN" -d '{"state":"up","weight":2}' http://{{.Admin}}/api/v1/pools/POOL/backends/ID
curl -s http://{{.Admin}}/api/v1/pools        # JSON;  /metrics for Prometheus</pre>
</body></html>
`))

type dashFrontend struct {
	Name, Addr, Pool string
	TLS              bool
}

type dashPool struct {
	Pool     PoolView
	Backends []BackendView
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Now       string
		Admin     string
		Frontends []dashFrontend
		Pools     []dashPool
	}{Now: s.now().Format("15:04:05")}
	if a := s.AdminAddr(); a != nil {
		data.Admin = a.String()
	}
	for _, f := range s.frontends {
		fc := f.cfg.Load()
		addr := fc.Listen
		if a := s.Addr(f.name); a != nil {
			addr = a.String()
		}
		data.Frontends = append(data.Frontends, dashFrontend{Name: f.name, Addr: addr, Pool: fc.Pool, TLS: fc.TLS != nil})
	}
	for _, p := range s.sortedPools() {
		dp := dashPool{Pool: s.viewPool(p)}
		for _, m := range p.snap.Load().order {
			dp.Backends = append(dp.Backends, viewBackend(m))
		}
		data.Pools = append(data.Pools, dp)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := dashboardTmpl.Execute(w, data); err != nil {
		s.log.Warn("dashboard: " + err.Error())
	}
}

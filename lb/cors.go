package lb

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// corsPolicy is a route's compiled CORSConfig (the Fetch standard's CORS
// protocol). lbd answers preflights itself; on other requests from an
// allowed origin it adds the response fields, replacing the backend's.
type corsPolicy struct {
	anyOrigin bool
	origins   map[string]bool
	methods   []string
	allowM    string // Access-Control-Allow-Methods
	allowH    string // Access-Control-Allow-Headers; "" with anyHeader
	anyHeader bool
	expose    string
	creds     bool
	maxAge    string // seconds; "" none
}

// corsFields are the fields the policy writes, which replace a backend's.
var corsFields = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"}

func newCORS(c CORSConfig) *corsPolicy {
	p := &corsPolicy{origins: map[string]bool{}, creds: c.AllowCredentials}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			p.anyOrigin = true
		}
		p.origins[strings.TrimSuffix(strings.ToLower(o), "/")] = true
	}
	for _, m := range c.AllowMethods {
		p.methods = append(p.methods, strings.ToUpper(m))
	}
	p.allowM = strings.Join(p.methods, ", ")
	var hs []string
	for _, h := range c.AllowHeaders {
		if h == "*" {
			p.anyHeader = true
		}
		hs = append(hs, h)
	}
	p.allowH = strings.Join(hs, ", ")
	p.expose = strings.Join(c.ExposeHeaders, ", ")
	if c.MaxAge > 0 {
		p.maxAge = strconv.FormatInt(int64(c.MaxAge/time.Second), 10)
	}
	return p
}

func (p *corsPolicy) allows(origin string) bool {
	return origin != "" && (p.anyOrigin || p.origins[strings.ToLower(origin)])
}

// isPreflight: OPTIONS with Origin and Access-Control-Request-Method.
func isPreflight(method string, rf reqFields) bool {
	return method == http.MethodOptions && rf.header("Origin") != "" && rf.header("Access-Control-Request-Method") != ""
}

// preflight answers a preflight request: the fields when origin and
// method are allowed (status 204), else 403 and why.
func (p *corsPolicy) preflight(sink fieldSink, origin string, rf reqFields) (ok bool, why string) {
	sink.add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !p.allows(origin) {
		return false, "origin " + strconv.Quote(origin) + " is not in the route's cors.allow_origins"
	}
	method := rf.header("Access-Control-Request-Method")
	allowed := false
	for _, m := range p.methods {
		allowed = allowed || m == method
	}
	if !allowed {
		return false, "method " + method + " is not in the route's cors.allow_methods (" + p.allowM + ")"
	}
	p.origin(sink, origin)
	sink.set("Access-Control-Allow-Methods", p.allowM)
	switch {
	case p.anyHeader:
		// "*" is not a wildcard for credentialed requests: echo what was asked.
		if h := rf.header("Access-Control-Request-Headers"); h != "" {
			sink.set("Access-Control-Allow-Headers", h)
		}
	case p.allowH != "":
		sink.set("Access-Control-Allow-Headers", p.allowH)
	}
	if p.maxAge != "" {
		sink.set("Access-Control-Max-Age", p.maxAge)
	}
	return true, ""
}

// actual adds the fields of a non-preflight answer to an allowed origin.
func (p *corsPolicy) actual(sink fieldSink, origin string) {
	if !p.anyOrigin || p.creds {
		sink.add("Vary", "Origin") // the answer depends on the origin
	}
	if !p.allows(origin) {
		return
	}
	p.origin(sink, origin)
	if p.expose != "" {
		sink.set("Access-Control-Expose-Headers", p.expose)
	}
}

func (p *corsPolicy) origin(sink fieldSink, origin string) {
	if p.anyOrigin && !p.creds {
		sink.set("Access-Control-Allow-Origin", "*")
		return
	}
	sink.set("Access-Control-Allow-Origin", origin)
	if p.creds {
		sink.set("Access-Control-Allow-Credentials", "true")
	}
}

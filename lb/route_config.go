package lb

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"netsim/internal/cfgerr"
	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// RouteConfig is one entry of a frontend's routes (frontends[].routes).
// Routes are tried in order and the first whose match fits the request
// decides what happens to it; a request no route matches goes to the
// frontend's pool. A route does exactly one of: send to a pool,
// redirect, or answer with a fixed response.
type RouteConfig struct {
	Name  string     `mapstructure:"name"`
	Match RouteMatch `mapstructure:"match"`
	// Pool receives the route's requests (the frontend's pool when empty
	// and the route neither redirects nor responds).
	Pool string `mapstructure:"pool"`
	// StripPrefix removes match.path_prefix from the path before the
	// request is forwarded (/api/orders → /orders).
	StripPrefix bool            `mapstructure:"strip_prefix"`
	Redirect    *RedirectConfig `mapstructure:"redirect"`
	Respond     *RespondConfig  `mapstructure:"respond"`
	// RateLimit is a token bucket per client key (ratelimit.go).
	RateLimit       *RateLimitConfig `mapstructure:"rate_limit"`
	RequestHeaders  HeaderRules      `mapstructure:"request_headers"`
	ResponseHeaders HeaderRules      `mapstructure:"response_headers"`
	CORS            *CORSConfig      `mapstructure:"cors"`
	// Cache and Compress are the route's response cache and compression
	// (edge.go); nil: the frontend's blocks apply to the route.
	Cache    *httpcache.Config `mapstructure:"cache"`
	Compress *compress.Config  `mapstructure:"compress"`
}

// RouteMatch is what a request must have for a route to take it; every
// condition set must hold, and an empty match takes everything.
type RouteMatch struct {
	// Host is an exact host name or *.domain (any name below domain, not
	// domain itself); the port of the Host field is ignored.
	Host string `mapstructure:"host" json:"host,omitempty"`
	// PathPrefix matches at segment boundaries: /api matches /api and
	// /api/x, not /apiary. Path is an exact path. One of the two.
	PathPrefix string   `mapstructure:"path_prefix" json:"path_prefix,omitempty"`
	Path       string   `mapstructure:"path" json:"path,omitempty"`
	Methods    []string `mapstructure:"methods" json:"methods,omitempty"`
	// Headers: field name → value it must have ("*": present with any value).
	Headers map[string]string `mapstructure:"headers" json:"headers,omitempty"`
}

// RedirectConfig answers with a redirect (HAProxy's "http-request
// redirect location").
type RedirectConfig struct {
	// Location may use %{host} (without port), %{path} (after
	// strip_prefix) and %{query} ("?…" or empty).
	Location string `mapstructure:"location"`
	Code     int    `mapstructure:"code"` // 301, 302, 303, 307 or 308 [302]
}

// RespondConfig answers with a fixed response (HAProxy's "http-request
// return").
type RespondConfig struct {
	Status      int    `mapstructure:"status"` // [200]
	Body        string `mapstructure:"body"`
	ContentType string `mapstructure:"content_type"` // [text/plain; charset=utf-8]
}

// RateLimitConfig is a per-key token bucket: Requests per Per on
// average, up to Burst at once.
type RateLimitConfig struct {
	Requests int           `mapstructure:"requests"`
	Per      time.Duration `mapstructure:"per"`   // [1s]
	Burst    int           `mapstructure:"burst"` // [requests]
	// Key: ip (the client address, cut to ipv4_prefix / ipv6_prefix),
	// header:<name> (an API key) or cookie:<name>; a request without the
	// header or cookie is keyed by its address.
	Key        string `mapstructure:"key"`         // [ip]
	IPv4Prefix int    `mapstructure:"ipv4_prefix"` // [32]
	IPv6Prefix int    `mapstructure:"ipv6_prefix"` // [64]
	MaxKeys    int    `mapstructure:"max_keys"`    // [100000]
}

// HeaderRules change a message's header fields: Remove first, then Set
// (replacing), then Add. Values may use %{client_ip}, %{request_id},
// %{backend} (the backend's id), %{route} and %{frontend}.
type HeaderRules struct {
	Set    map[string]string `mapstructure:"set"`
	Add    map[string]string `mapstructure:"add"`
	Remove []string          `mapstructure:"remove"`
}

func (h *HeaderRules) empty() bool { return len(h.Set) == 0 && len(h.Add) == 0 && len(h.Remove) == 0 }

// CORSConfig is the route's cross-origin policy; lbd answers preflight
// requests itself and replaces the backends' Access-Control-* fields.
type CORSConfig struct {
	AllowOrigins     []string      `mapstructure:"allow_origins"` // exact origins, or "*"
	AllowMethods     []string      `mapstructure:"allow_methods"` // [GET, HEAD, POST]
	AllowHeaders     []string      `mapstructure:"allow_headers"`
	ExposeHeaders    []string      `mapstructure:"expose_headers"`
	AllowCredentials bool          `mapstructure:"allow_credentials"`
	MaxAge           time.Duration `mapstructure:"max_age"` // preflight cache time [0: not sent]
}

func (rc *RouteConfig) applyDefaults() {
	if r := rc.Redirect; r != nil {
		orDefault(&r.Code, http.StatusFound)
	}
	if r := rc.Respond; r != nil {
		orDefault(&r.Status, http.StatusOK)
		orDefault(&r.ContentType, "text/plain; charset=utf-8")
	}
	if l := rc.RateLimit; l != nil {
		orDefault(&l.Per, time.Second)
		orDefault(&l.Burst, l.Requests)
		orDefault(&l.Key, "ip")
		orDefault(&l.IPv4Prefix, 32)
		orDefault(&l.IPv6Prefix, 64)
		orDefault(&l.MaxKeys, 100000)
	}
	if c := rc.CORS; c != nil && len(c.AllowMethods) == 0 {
		c.AllowMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
}

// validateRoutes checks a frontend's routes (k is the frontend's key).
func validateRoutes(k string, routes []RouteConfig, pools map[string]bool, errs *cfgerr.List) {
	names := map[string]bool{"default": true}
	for i := range routes {
		rc := &routes[i]
		rk := fmt.Sprintf("%s.routes[%d]", k, i)
		if !validName(rc.Name) {
			errs.Add(rk+".name", rc.Name, "must be 1-63 characters of a-z, 0-9, '-', '_', '.' and start with a letter or digit")
		} else if names[rc.Name] {
			errs.Add(rk+".name", rc.Name, "duplicate route name in this frontend (\"default\" is the frontend's own pool)")
		}
		names[rc.Name] = true
		validateMatch(rk+".match", &rc.Match, errs)
		actions := 0
		for _, set := range []bool{rc.Pool != "", rc.Redirect != nil, rc.Respond != nil} {
			if set {
				actions++
			}
		}
		if actions > 1 {
			errs.Add(rk, rc.Name, "a route sends to a pool, redirects or responds: set only one of pool, redirect, respond")
		}
		if rc.Pool != "" && !pools[rc.Pool] {
			errs.Add(rk+".pool", rc.Pool, "no pool with this name")
		}
		if rc.StripPrefix && rc.Match.PathPrefix == "" {
			errs.Add(rk+".strip_prefix", true, "needs match.path_prefix (the prefix to strip)")
		}
		if r := rc.Redirect; r != nil {
			switch r.Code {
			case 301, 302, 303, 307, 308:
			default:
				errs.Add(rk+".redirect.code", r.Code, "must be 301, 302, 303, 307 or 308")
			}
			if r.Location == "" {
				errs.Add(rk+".redirect.location", r.Location, "is required: a URL or a path, e.g. https://%%{host}%%{path}%%{query}")
			} else if _, err := url.Parse(strings.NewReplacer("%{host}", "h", "%{path}", "/", "%{query}", "").Replace(r.Location)); err != nil {
				errs.Add(rk+".redirect.location", r.Location, "not a URL: %v", err)
			}
		}
		if r := rc.Respond; r != nil && (r.Status < 200 || r.Status > 599) {
			errs.Add(rk+".respond.status", r.Status, "must be an HTTP status 200-599")
		}
		if l := rc.RateLimit; l != nil {
			validateRateLimit(rk+".rate_limit", l, errs)
		}
		if rc.Cache != nil {
			errs.Append(rk+".cache", rc.Cache.Check(rk+".cache"))
		}
		if rc.Compress != nil {
			errs.Append(rk+".compress", rc.Compress.Check(rk+".compress"))
		}
		validateHeaderRules(rk+".request_headers", &rc.RequestHeaders, errs)
		validateHeaderRules(rk+".response_headers", &rc.ResponseHeaders, errs)
		if c := rc.CORS; c != nil {
			validateCORS(rk+".cors", c, errs)
		}
	}
}

func validateMatch(k string, m *RouteMatch, errs *cfgerr.List) {
	if h := m.Host; h != "" {
		name := strings.TrimPrefix(h, "*.")
		if strings.Contains(name, "*") || !validHostname(name) {
			errs.Add(k+".host", h, "must be a host name or *.domain")
		}
	}
	if m.PathPrefix != "" && m.Path != "" {
		errs.Add(k+".path", m.Path, "set path (exact) or path_prefix, not both")
	}
	for _, p := range []struct{ key, v string }{{"path_prefix", m.PathPrefix}, {"path", m.Path}} {
		if p.v != "" && (!strings.HasPrefix(p.v, "/") || strings.ContainsAny(p.v, "?# \t")) {
			errs.Add(k+"."+p.key, p.v, "must start with / and hold no query, fragment or space")
		}
	}
	for j, meth := range m.Methods {
		if meth == "" || strings.IndexFunc(meth, func(r rune) bool { return r > 0x7f || !isToken(byte(r)) }) >= 0 {
			errs.Add(fmt.Sprintf("%s.methods[%d]", k, j), meth, "not an HTTP method")
		}
	}
	for name := range m.Headers {
		if !validFieldName(name) {
			errs.Add(k+".headers", name, "not a header field name")
		}
	}
}

func validateRateLimit(k string, l *RateLimitConfig, errs *cfgerr.List) {
	if l.Requests < 1 {
		errs.Add(k+".requests", l.Requests, "must be at least 1 (requests per `per`)")
	}
	if l.Per < time.Millisecond {
		errs.Add(k+".per", l.Per, "must be at least 1ms")
	}
	if l.Burst < 1 {
		errs.Add(k+".burst", l.Burst, "must be at least 1")
	}
	if _, _, err := parseLimitKey(l.Key); err != nil {
		errs.Add(k+".key", l.Key, "%v", err)
	}
	if l.IPv4Prefix < 1 || l.IPv4Prefix > 32 {
		errs.Add(k+".ipv4_prefix", l.IPv4Prefix, "must be 1 to 32")
	}
	if l.IPv6Prefix < 1 || l.IPv6Prefix > 128 {
		errs.Add(k+".ipv6_prefix", l.IPv6Prefix, "must be 1 to 128")
	}
	if l.MaxKeys < 1 {
		errs.Add(k+".max_keys", l.MaxKeys, "must be at least 1")
	}
}

// framingFields are what header rules may not touch: the message's
// framing, its connection and its Host are lbd's to write.
var framingFields = []string{"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection"}

func ruleFieldName(name string) string {
	if !validFieldName(name) {
		return "not a header field name"
	}
	for _, f := range framingFields {
		if strings.EqualFold(name, f) {
			return "framing and connection fields (Host, Content-Length, Transfer-Encoding, Connection, …) are lbd's to write"
		}
	}
	return ""
}

func validateHeaderRules(k string, h *HeaderRules, errs *cfgerr.List) {
	for _, m := range []struct {
		key string
		m   map[string]string
	}{{"set", h.Set}, {"add", h.Add}} {
		for name, v := range m.m {
			if why := ruleFieldName(name); why != "" {
				errs.Add(k+"."+m.key, name, "%s", why)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				errs.Add(k+"."+m.key+"."+name, v, "a field value holds no CR, LF or NUL")
			}
			if err := checkVars(v); err != nil {
				errs.Add(k+"."+m.key+"."+name, v, "%v", err)
			}
		}
	}
	for j, name := range h.Remove {
		if why := ruleFieldName(name); why != "" {
			errs.Add(fmt.Sprintf("%s.remove[%d]", k, j), name, "%s", why)
		}
	}
}

func validateCORS(k string, c *CORSConfig, errs *cfgerr.List) {
	if len(c.AllowOrigins) == 0 {
		errs.Add(k+".allow_origins", nil, "at least one origin (scheme://host[:port]) or \"*\"")
	}
	for j, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				errs.Add(fmt.Sprintf("%s.allow_origins[%d]", k, j), o, "\"*\" cannot be used with allow_credentials (browsers refuse it); list the origins")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs.Add(fmt.Sprintf("%s.allow_origins[%d]", k, j), o, "must be an origin such as https://app.example.test, or \"*\"")
		}
	}
	for _, l := range []struct {
		key string
		v   []string
	}{{"allow_methods", c.AllowMethods}, {"allow_headers", c.AllowHeaders}, {"expose_headers", c.ExposeHeaders}} {
		for j, name := range l.v {
			if !validFieldName(name) && name != "*" {
				errs.Add(fmt.Sprintf("%s.%s[%d]", k, l.key, j), name, "must be a token")
			}
		}
	}
	if c.MaxAge < 0 {
		errs.Add(k+".max_age", c.MaxAge, "must not be negative")
	}
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isToken(s[i]) {
			return false
		}
	}
	return true
}

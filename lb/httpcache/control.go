package httpcache

import (
	"strconv"
	"strings"
	"time"
)

// control holds the Cache-Control directives a shared cache acts on
// (RFC 9111 §5.2, RFC 5861). A duration is -1 when its directive is
// absent.
type control struct {
	noStore, noCache, private, public  bool
	mustRevalidate, proxyRevalidate    bool
	onlyIfCached, noTransform          bool
	maxAge, sMaxAge, minFresh          time.Duration
	maxStale                           time.Duration // -1 absent; maxStaleAny for a bare max-stale
	staleWhileRevalidate, staleIfError time.Duration
}

// maxStaleAny is a bare max-stale: any staleness is accepted.
const maxStaleAny = time.Duration(1<<63 - 1)

// parseControl reads the Cache-Control field values. An argument that is
// not a number of seconds makes its directive count as absent, except
// max-age and s-maxage, which then count as 0 (stale at once: the safe
// reading of a broken freshness lifetime, §4.2.1).
func parseControl(values []string) control {
	c := control{maxAge: -1, sMaxAge: -1, minFresh: -1, maxStale: -1, staleWhileRevalidate: -1, staleIfError: -1}
	for _, v := range values {
		for len(v) > 0 {
			var item string
			item, v = nextItem(v)
			name, arg, hasArg := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch name {
			case "no-store":
				c.noStore = true
			case "no-cache":
				c.noCache = true // a qualified no-cache is read as the whole response's (conservative)
			case "private":
				c.private = true // likewise a qualified private
			case "public":
				c.public = true
			case "must-revalidate":
				c.mustRevalidate = true
			case "proxy-revalidate":
				c.proxyRevalidate = true
			case "only-if-cached":
				c.onlyIfCached = true
			case "no-transform":
				c.noTransform = true
			case "max-age":
				c.maxAge = seconds(arg, 0)
			case "s-maxage":
				c.sMaxAge = seconds(arg, 0)
			case "min-fresh":
				c.minFresh = seconds(arg, -1)
			case "max-stale":
				if !hasArg {
					c.maxStale = maxStaleAny
				} else {
					c.maxStale = seconds(arg, -1)
				}
			case "stale-while-revalidate":
				c.staleWhileRevalidate = seconds(arg, -1)
			case "stale-if-error":
				c.staleIfError = seconds(arg, -1)
			}
		}
	}
	return c
}

// nextItem splits the first element off a comma-separated list, minding
// quoted strings (private="Set-Cookie, X-Foo").
func nextItem(v string) (item, rest string) {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return strings.TrimSpace(v[:i]), v[i+1:]
			}
		}
	}
	return strings.TrimSpace(v), ""
}

// seconds reads a delta-seconds argument (RFC 9111 §1.2.2); a value too
// large is capped at 2^31 s as the RFC asks; a malformed one gives bad.
func seconds(s string, bad time.Duration) time.Duration {
	if s == "" {
		return bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return bad
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 1<<31 {
		n = 1 << 31
	}
	return time.Duration(n) * time.Second
}

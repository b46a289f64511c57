package lb

import "bytes"

// Cookies on the fast engine: read from the parsed head, no net/http.

func (c *fastConn) cookie(name string) (string, bool) {
	for _, f := range c.req.fields {
		if f.kind != fCookie {
			continue
		}
		if v, ok := cookieValue(f.value, name); ok {
			return string(v), true
		}
	}
	return "", false
}

// cookieValue finds the cookie called name in a Cookie field's value.
func cookieValue(v []byte, name string) ([]byte, bool) {
	for len(v) > 0 {
		var part []byte
		part, v = nextCookie(v)
		if eq := bytes.IndexByte(part, '='); eq >= 0 && string(part[:eq]) == name {
			val := part[eq+1:]
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
	return nil, false
}

// nextCookie splits the first name=value pair off a Cookie field's value.
func nextCookie(v []byte) (part, rest []byte) {
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		part, rest = v[:i], v[i+1:]
	} else {
		part = v
	}
	return bytes.TrimSpace(part), rest
}

package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAuth covers issue 9 defect 11: off loopback, reads need the token
// (liveness probes excepted), and the scheme is case-insensitive.
func TestAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := Auth("s3cret", ok)
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9153}
	loop6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 9153}
	lan := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9153}
	cases := []struct {
		name       string
		local      net.Addr // nil: not received from a network
		method     string
		path, auth string
		code       int
	}{
		{"loopback read is open", loop, "GET", "/api/v1/pools", "", 204},
		{"ipv6 loopback read is open", loop6, "HEAD", "/api/v1/pools", "", 204},
		{"in-process read is open", nil, "GET", "/", "", 204},
		{"loopback write needs the token", loop, "POST", "/api/v1/pools", "", 401},
		{"wrong token", loop, "PATCH", "/x", "Bearer wrong", 401},
		{"right token", loop, "DELETE", "/x", "Bearer s3cret", 204},
		{"no scheme", loop, "PUT", "/x", "s3cret", 401},
		{"lowercase scheme", loop, "PATCH", "/x", "bearer s3cret", 204},
		{"uppercase scheme", lan, "GET", "/x", "BEARER s3cret", 204},
		{"other scheme", loop, "PATCH", "/x", "Basic s3cret", 401},
		{"token as scheme", loop, "PATCH", "/x", "s3cret s3cret", 401},
		{"LAN read without token", lan, "GET", "/api/v1/pools", "", 401},
		{"LAN pprof without token", lan, "GET", "/debug/pprof/", "", 401},
		{"LAN metrics with wrong token", lan, "GET", "/metrics", "Bearer nope", 401},
		{"LAN read with token", lan, "GET", "/api/v1/pools", "Bearer s3cret", 204},
		{"LAN OPTIONS without token", lan, "OPTIONS", "/api/v1/pools", "", 401},
		{"LAN healthz is open", lan, "GET", "/healthz", "", 204},
		{"LAN readyz is open", lan, "HEAD", "/readyz", "", 204},
		{"LAN healthz write still guarded", lan, "POST", "/healthz", "", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, nil)
			if c.local != nil {
				r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.local))
			}
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Errorf("%s %s on %v with %q: %d, want %d (%s)", c.method, c.path, c.local, c.auth, w.Code, c.code, w.Body)
			}
		})
	}
}

// TestAuthOverNetwork checks that a real listener's local address reaches
// Auth: on 127.0.0.1 reads are open, writes are not.
func TestAuthOverNetwork(t *testing.T) {
	srv := httptest.NewServer(Auth("s3cret", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })))
	defer srv.Close()
	for _, c := range []struct {
		method string
		code   int
	}{{"GET", 204}, {"POST", 401}} {
		req, _ := http.NewRequest(c.method, srv.URL+"/api/v1/x", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.method, resp.StatusCode, c.code)
		}
	}
}

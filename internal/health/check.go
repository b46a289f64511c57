// Package health holds what lbd's backend checks and GeoDNS's member
// checks share: the probes (HTTP GET, TCP connect) of one address, the
// timing with its defaults, and the rise/fall streak that decides when a
// target changes state. lb/health binds it to backends; dns/geo to the
// members of its pools.
package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Checker probes one address ("host:port"); nil means healthy.
type Checker interface {
	Check(ctx context.Context, addr string) error
}

// maxBody caps what a check reads of a response body; the rest is dropped
// with the connection rather than drained without bound.
const maxBody = 64 << 10

// HTTP checks that GET Path answers the Expect status (0: any 2xx or 3xx).
type HTTP struct {
	Client *http.Client // its Timeout should be unset: Check uses ctx
	Path   string       // default "/healthz"
	Host   string       // Host header; default the address
	Expect int
	// Scheme is "http" (default) or "https"; for https the Client's
	// transport carries the TLS config (verification, server name).
	Scheme    string
	UserAgent string // default "netsim-health-check"
}

// HTTPOptions configure NewHTTP.
type HTTPOptions struct {
	Path, Host string
	Expect     int
	UserAgent  string
	// KeepAlive keeps one idle connection per address between checks
	// (lbd's backends). Without it every check opens a fresh connection,
	// as a client sent to the address by DNS would.
	KeepAlive bool
}

// NewHTTP returns an HTTP checker with its own transport: checks never
// share connections with proxied traffic, do not follow redirects and
// keep at most one idle connection per address.
func NewHTTP(o HTTPOptions) *HTTP {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DisableKeepAlives:   !o.KeepAlive,
	}
	return &HTTP{Client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, Path: o.Path, Host: o.Host, Expect: o.Expect, UserAgent: o.UserAgent}
}

// Check implements Checker.
func (h *HTTP) Check(ctx context.Context, addr string) error {
	path := h.Path
	if path == "" {
		path = "/healthz"
	}
	scheme := h.Scheme
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return err
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	ua := h.UserAgent
	if ua == "" {
		ua = "netsim-health-check"
	}
	req.Header.Set("User-Agent", ua)
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if h.Expect != 0 {
		if resp.StatusCode != h.Expect {
			return fmt.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, h.Expect)
		}
		return nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: status %d, want 2xx or 3xx", path, resp.StatusCode)
	}
	return nil
}

// Close drops idle check connections.
func (h *HTTP) Close() {
	h.Client.CloseIdleConnections()
}

// TCP checks that a TCP connection to the address opens.
type TCP struct{ Dialer net.Dialer }

// Check implements Checker.
func (t *TCP) Check(ctx context.Context, addr string) error {
	c, err := t.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// Package health runs active checks against backends (HTTP or TCP, every
// interval, with rise/fall hysteresis), readmits passively ejected backends
// after their cooldown, and polls an optional load agent. Each backend has
// one goroutine owned by a Monitor, started when the pool loads.
package health

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"netsim/lb/backend"
)

// Checker probes one backend; nil error means healthy.
type Checker interface {
	Check(ctx context.Context, b *backend.Backend) error
}

// maxBody caps what a check reads of a response body; the rest is dropped
// with the connection rather than drained without bound.
const maxBody = 64 << 10

// HTTP checks that GET Path answers the Expect status (0: any 2xx or 3xx).
type HTTP struct {
	Client *http.Client // its Timeout should be unset: Check uses ctx
	Path   string       // default "/healthz"
	Host   string       // Host header; default the backend address
	Expect int
	// Scheme is "http" (default) or "https"; for https the Client's
	// transport carries the TLS config (verification, server name).
	Scheme string
}

// NewHTTP returns an HTTP checker with its own transport: checks never
// share connections with proxied traffic and keep at most one idle
// connection per backend.
func NewHTTP(path, host string, expect int) *HTTP {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &HTTP{Client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, Path: path, Host: host, Expect: expect}
}

// Check implements Checker.
func (h *HTTP) Check(ctx context.Context, b *backend.Backend) error {
	path := h.Path
	if path == "" {
		path = "/healthz"
	}
	scheme := h.Scheme
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+b.Address()+path, nil)
	if err != nil {
		return err
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	req.Header.Set("User-Agent", "lbd-health-check")
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
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
	if tr, ok := h.Client.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// TCP checks that a TCP connection to the backend opens.
type TCP struct{ Dialer net.Dialer }

// Check implements Checker.
func (t *TCP) Check(ctx context.Context, b *backend.Backend) error {
	c, err := t.Dialer.DialContext(ctx, "tcp", b.Address())
	if err != nil {
		return err
	}
	return c.Close()
}

// Agent reads a backend's load report over HTTP: either HAProxy agent-check
// text ("up 63%": 63% spare, so load 37) or JSON with a "load" field
// (percentage busy), as webd's /load answers.
type Agent struct {
	Client *http.Client
	Path   string // e.g. "/load?format=agent" or "/load"
}

// Load returns the backend's load percentage 0..100.
func (a *Agent) Load(ctx context.Context, b *backend.Backend) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.Address()+a.Path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("agent %s: status %d", a.Path, resp.StatusCode)
	}
	return ParseLoad(body)
}

// ParseLoad parses a load report: JSON {"load": busy%} or HAProxy agent
// words where "NN%" is spare capacity.
func ParseLoad(body []byte) (int, error) {
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "{") {
		var v struct {
			Load *float64 `json:"load"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return 0, fmt.Errorf("load report: %v", err)
		}
		if v.Load == nil || *v.Load != *v.Load || *v.Load < 0 || *v.Load > 100 {
			return 0, errors.New(`load report: "load" must be a number from 0 to 100`)
		}
		return int(*v.Load + 0.5), nil
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		w := strings.Trim(sc.Text(), ",")
		if p, ok := strings.CutSuffix(w, "%"); ok {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 100 {
				return 0, fmt.Errorf("agent report: %q is not a percentage from 0 to 100", w)
			}
			return 100 - n, nil
		}
	}
	return 0, fmt.Errorf("agent report %q has no percentage", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

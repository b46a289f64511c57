// Package health runs active checks against lbd's backends (HTTP or TCP,
// every interval, with rise/fall hysteresis), readmits passively ejected
// backends after their cooldown, and polls an optional load agent. Each
// backend has one goroutine owned by a Monitor, started when the pool
// loads. The probes, timing defaults and rise/fall streak are shared with
// GeoDNS in netsim/internal/health; this package binds them to backends.
package health

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"netsim/internal/health"
	"netsim/lb/backend"
)

// Checker probes one backend's address; nil error means healthy. The
// probes are the ones GeoDNS uses (netsim/internal/health).
type Checker = health.Checker

// HTTP and TCP are the shared probes.
type (
	HTTP = health.HTTP
	TCP  = health.TCP
)

// NewHTTP returns an HTTP checker for backends: its own transport (checks
// never share connections with proxied traffic), at most one idle
// connection per backend kept between checks.
func NewHTTP(path, host string, expect int) *HTTP {
	return health.NewHTTP(health.HTTPOptions{Path: path, Host: host, Expect: expect, UserAgent: "lbd-health-check", KeepAlive: true})
}

// maxBody caps what an agent check reads of a load report.
const maxBody = 64 << 10

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

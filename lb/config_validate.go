package lb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"netsim/internal/api"
	"netsim/internal/cfgerr"
	"netsim/internal/logging"
	"netsim/lb/policy"
	nstls "netsim/tls"
)

// Validate checks every value and names the key, the value and the reason.
func (c *Config) Validate() error {
	var errs cfgerr.List
	c.validateProcess(&errs)
	pools := c.validatePools(&errs)
	names, listens := c.validateFrontends(pools, &errs)
	c.validateL4(names, listens, &errs)
	return errs.Err()
}

// validateProcess checks log, admin, access_log and runtime.
func (c *Config) validateProcess(errs *cfgerr.List) {
	if _, err := logging.New(c.Log.Format, c.Log.Level); err != nil {
		errs.Add("log", c.Log.Format+"/"+c.Log.Level, "%v", err)
	}
	if err := checkHostPort(c.Admin.Listen); err != nil {
		errs.Add("admin.listen", c.Admin.Listen, "%v", err)
	} else if err := api.CheckBind(c.Admin.Listen, c.Admin.Token); err != nil {
		errs.Add("admin.listen", c.Admin.Listen, "%v", err)
	}
	c.Admin.Lockout.Validate("admin.lockout", errs)
	if r := c.AccessLog.SampleRate; r <= 0 || r > 1 || r != r {
		errs.Add("access_log.sample_rate", r, "must be in (0, 1]")
	}
	if c.Runtime.GCPercent < -1 {
		errs.Add("runtime.gc_percent", c.Runtime.GCPercent, "must be -1 (off), 0 (Go default) or a positive percentage")
	}
	if c.Runtime.MemoryLimit != "" {
		if _, err := ParseBytes(c.Runtime.MemoryLimit); err != nil {
			errs.Add("runtime.memory_limit", c.Runtime.MemoryLimit, "%v", err)
		}
	}
}

// validatePools checks pools[] and returns the pool names.
func (c *Config) validatePools(errs *cfgerr.List) map[string]bool {
	pools := map[string]bool{}
	for i, p := range c.Pools {
		k := fmt.Sprintf("pools[%d]", i)
		if t := p.TLS; t != nil {
			if t.ServerName == "" {
				errs.Add(k+".tls.server_name", "", "is required: backends are dialled by address, and their certificates are verified against this name")
			}
			if (t.Cert == "") != (t.Key == "") {
				errs.Add(k+".tls.cert", t.Cert+" "+t.Key, "cert and key go together")
			}
		}
		if !validName(p.Name) {
			errs.Add(k+".name", p.Name, "must be 1-63 characters of a-z, 0-9, '-', '_' and start with a letter or digit")
		} else if pools[p.Name] {
			errs.Add(k+".name", p.Name, "duplicate pool name")
		}
		pools[p.Name] = true
		if _, err := policy.New(p.Policy, nil); err != nil {
			errs.Add(k+".policy", p.Policy, "%v", err)
		}
		if (p.Policy == "header_hash" || p.Policy == "cookie_hash") && p.HashKey == "" {
			errs.Add(k+".hash_key", p.HashKey, "policy %s needs the name of the %s to hash", p.Policy, strings.TrimSuffix(p.Policy, "_hash"))
		}
		if p.Policy == "backend_load" && p.Health.AgentPath == "" {
			errs.Add(k+".health.agent_path", p.Health.AgentPath, "policy backend_load needs the backends' load report, e.g. /load?format=agent")
		}
		if p.DialTimeout < 0 {
			errs.Add(k+".dial_timeout", p.DialTimeout, "must not be negative")
		}
		if p.ResponseTimeout < 0 {
			errs.Add(k+".response_timeout", p.ResponseTimeout, "must not be negative")
		}
		if p.QueueTimeout > time.Minute {
			errs.Add(k+".queue_timeout", p.QueueTimeout, "must be at most 1m (negative: no queue, 503 at once)")
		}
		if *p.Retries < 0 || *p.Retries > 3 {
			errs.Add(k+".retries", *p.Retries, "must be 0 to 3")
		}
		if p.SlowStart < 0 {
			errs.Add(k+".slow_start", p.SlowStart, "must not be negative")
		}
		if p.MaxIdlePerBackend < 0 {
			errs.Add(k+".max_idle_per_backend", p.MaxIdlePerBackend, "must not be negative")
		}
		switch p.Sticky.Mode {
		case "none", "cookie", "source_ip":
		default:
			errs.Add(k+".sticky.mode", p.Sticky.Mode, "must be none, cookie or source_ip")
		}
		if !validCookieName(p.Sticky.Cookie) {
			errs.Add(k+".sticky.cookie", p.Sticky.Cookie, "not a valid cookie name (RFC 6265 token)")
		}
		if p.Sticky.TTL < 0 {
			errs.Add(k+".sticky.ttl", p.Sticky.TTL, "must not be negative (0 = session cookie)")
		}
		if _, err := parseSameSite(p.Sticky.SameSite); err != nil {
			errs.Add(k+".sticky.same_site", p.Sticky.SameSite, "%v", err)
		}
		if p.Sticky.Secret != "" && len(p.Sticky.Secret) < minSecret {
			errs.Add(k+".sticky.secret", "(hidden)", "must be at least 16 characters")
		}
		if p.Sticky.Secret != "" && p.Sticky.SecretFile != "" {
			errs.Add(k+".sticky.secret_file", p.Sticky.SecretFile, "must be empty when sticky.secret is set (one key source)")
		}
		h := p.Health
		switch h.Type {
		case "http", "tcp", "none":
		default:
			errs.Add(k+".health.type", h.Type, "must be http, tcp or none")
		}
		if h.Type == "http" && !strings.HasPrefix(h.Path, "/") {
			errs.Add(k+".health.path", h.Path, "must start with /")
		}
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			errs.Add(k+".health.expect_status", h.ExpectStatus, "must be an HTTP status 100-599 (0 = any 2xx/3xx)")
		}
		if h.Interval < 10*time.Millisecond {
			errs.Add(k+".health.interval", h.Interval, "must be at least 10ms")
		}
		if h.Timeout <= 0 || h.Timeout > h.Interval {
			errs.Add(k+".health.timeout", h.Timeout, "must be positive and at most the interval (%v)", h.Interval)
		}
		if h.Rise < 1 || h.Rise > 100 {
			errs.Add(k+".health.rise", h.Rise, "must be 1 to 100")
		}
		if h.Fall < 1 || h.Fall > 100 {
			errs.Add(k+".health.fall", h.Fall, "must be 1 to 100")
		}
		if h.AgentPath != "" && !strings.HasPrefix(h.AgentPath, "/") {
			errs.Add(k+".health.agent_path", h.AgentPath, "must start with /")
		}
		if p.Passive.ConsecutiveFailures < 0 {
			errs.Add(k+".passive.consecutive_failures", p.Passive.ConsecutiveFailures, "must not be negative (0 = off)")
		}
		if p.Passive.Cooldown < 0 {
			errs.Add(k+".passive.cooldown", p.Passive.Cooldown, "must not be negative")
		}
		ids := map[string]bool{}
		for j, b := range p.Backends {
			bk := fmt.Sprintf("%s.backends[%d]", k, j)
			if err := checkBackend(b); err != nil {
				errs.Add(bk+"."+err.Key, err.Value, "%s", err.Expected)
			}
			if ids[b.ID] {
				errs.Add(bk+".id", b.ID, "duplicate backend id in pool %q", p.Name)
			}
			ids[b.ID] = true
		}
	}
	return pools
}

// validateFrontends checks frontends[] against the pools and returns the
// frontend names and listen addresses.
func (c *Config) validateFrontends(pools map[string]bool, errs *cfgerr.List) (names, listens map[string]bool) {
	listens, names = map[string]bool{}, map[string]bool{}
	if len(c.Frontends) == 0 {
		errs.Add("frontends", nil, "at least one frontend is needed")
	}
	for i, f := range c.Frontends {
		k := fmt.Sprintf("frontends[%d]", i)
		if !validName(f.Name) {
			errs.Add(k+".name", f.Name, "must be 1-63 characters of a-z, 0-9, '-', '_'")
		} else if names[f.Name] {
			errs.Add(k+".name", f.Name, "duplicate frontend name")
		}
		names[f.Name] = true
		if err := checkHostPort(f.Listen); err != nil {
			errs.Add(k+".listen", f.Listen, "%v", err)
		} else if !strings.HasSuffix(f.Listen, ":0") && (listens[f.Listen] || f.Listen == c.Admin.Listen) {
			errs.Add(k+".listen", f.Listen, "address already used by another listener")
		}
		listens[f.Listen] = true
		if !pools[f.Pool] {
			errs.Add(k+".pool", f.Pool, "no pool with this name")
		}
		validateRoutes(k, f.Routes, pools, errs)
		if f.RequestID != "" && !validFieldName(f.RequestID) {
			errs.Add(k+".request_id", f.RequestID, "must be a header field name such as X-Request-ID")
		}
		if f.MaxConnections < 0 {
			errs.Add(k+".max_connections", f.MaxConnections, "must not be negative (0 = default 10000)")
		}
		if f.MaxConnectionsPerClient < 0 {
			errs.Add(k+".max_connections_per_client", f.MaxConnectionsPerClient, "must not be negative (0 = no cap)")
		}
		if f.MaxBodyBytes < 0 {
			errs.Add(k+".max_body_bytes", f.MaxBodyBytes, "must not be negative")
		}
		if f.Cache != nil {
			errs.Append(k+".cache", f.Cache.Check(k+".cache"))
		}
		if f.Compress != nil {
			errs.Append(k+".compress", f.Compress.Check(k+".compress"))
		}
		switch f.Engine {
		case "":
		case EngineFast:
			if f.H2C {
				errs.Add(k+".engine", f.Engine, "h2c (HTTP/2 without TLS) runs on engine nethttp")
			}
		case EngineNetHTTP:
		default:
			errs.Add(k+".engine", f.Engine, "must be fast or nethttp")
		}
		if t := f.TLS; t != nil {
			if f.H2C {
				errs.Add(k+".h2c", f.H2C, "h2c is HTTP/2 without TLS; an HTTPS frontend speaks HTTP/2 through ALPN")
			}
			if len(t.Certs) == 0 && !t.Demo {
				errs.Add(k+".tls.certs", nil, "an HTTPS frontend needs at least one cert/key pair (or demo: true)")
			}
			for j, c := range t.Certs {
				if c.Cert == "" || c.Key == "" {
					errs.Add(fmt.Sprintf("%s.tls.certs[%d]", k, j), c.Cert+" "+c.Key, "needs both cert and key file names")
				}
			}
			switch t.ClientAuth {
			case "", nstls.ClientAuthOptional, nstls.ClientAuthRequire:
			default:
				errs.Add(k+".tls.client_auth", t.ClientAuth, "must be optional or require")
			}
			if t.ClientAuth != "" && t.ClientCA == "" {
				errs.Add(k+".tls.client_ca", t.ClientCA, "client_auth needs a client_ca file")
			}
			if t.HandshakeTimeout < 0 {
				errs.Add(k+".tls.handshake_timeout", t.HandshakeTimeout, "must not be negative")
			}
		}
		if f.HSTSMaxAge < 0 {
			errs.Add(k+".hsts_max_age", f.HSTSMaxAge, "must not be negative")
		} else if f.HSTSMaxAge > 0 && f.TLS == nil {
			errs.Add(k+".hsts_max_age", f.HSTSMaxAge, "HSTS is only sent over HTTPS (browsers ignore it over HTTP); set it on the tls frontend")
		}
		if r := f.RedirectHTTPS; r != "" {
			var target *FrontendConfig
			for j := range c.Frontends {
				if c.Frontends[j].Name == r {
					target = &c.Frontends[j]
				}
			}
			switch {
			case f.TLS != nil:
				errs.Add(k+".redirect_https", r, "only a plain HTTP frontend redirects to HTTPS")
			case target == nil:
				errs.Add(k+".redirect_https", r, "no frontend with this name")
			case target.TLS == nil:
				errs.Add(k+".redirect_https", r, "that frontend has no tls block")
			}
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"read_header_timeout", f.ReadHeaderTimeout}, {"read_timeout", f.ReadTimeout}, {"write_timeout", f.WriteTimeout}, {"idle_timeout", f.IdleTimeout}, {"shutdown_timeout", f.ShutdownTimeout}} {
			if d.v < 0 {
				errs.Add(k+"."+d.key, d.v, "must not be negative")
			}
		}
	}
	return names, listens
}

// validateL4 checks the l4 section and its clashes with the HTTP side.
func (c *Config) validateL4(names, listens map[string]bool, errs *cfgerr.List) {
	errs.Append("l4", c.L4.Validate())
	for i, f := range c.L4.Frontends {
		k := fmt.Sprintf("l4.frontends[%d]", i)
		if names[f.Name] {
			errs.Add(k+".name", f.Name, "an HTTP frontend has this name")
		}
		names[f.Name] = true
		if !strings.HasSuffix(f.Listen, ":0") && (listens[f.Listen] || f.Listen == c.Admin.Listen) {
			errs.Add(k+".listen", f.Listen, "address already used by another listener")
		}
		listens[f.Listen] = true
	}
}

// checkBackend validates one backend definition (config or API); key is
// relative to the backend.
func checkBackend(b BackendConfig) *cfgerr.Error {
	if !validName(b.ID) {
		return cfgerr.New("id", b.ID, "must be 1-63 characters of a-z, 0-9, '-', '_', '.' and start with a letter or digit")
	}
	if err := checkHostPort(b.Address); err != nil {
		return cfgerr.New("address", b.Address, "%v", err)
	}
	if b.Weight != nil && (*b.Weight < 0 || *b.Weight > MaxWeight) {
		return cfgerr.New("weight", *b.Weight, "must be 0 to %d", MaxWeight)
	}
	if b.MaxConnections < 0 {
		return cfgerr.New("max_connections", b.MaxConnections, "must not be negative (0 = no limit)")
	}
	return nil
}

// MaxWeight is the largest backend weight, as in HAProxy.
const MaxWeight = 256

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not 0-65535", port)
	}
	if host == "" {
		return errors.New("host is empty; use 127.0.0.1 or an explicit address")
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		if !validHostname(host) {
			return fmt.Errorf("host %q is neither an IP address nor a host name", host)
		}
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ParseBytes parses a size such as "512MiB", "1GiB", "300MB" or "1048576".
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suf  string
		mult int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive size such as 512MiB or 1GiB")
	}
	return n * mult, nil
}

package lb

import (
	"time"

	"netsim/internal/api"
	hcheck "netsim/internal/health" // lb/health is "health" in this package
	"netsim/lb/compress"
	"netsim/lb/httpcache"
	"netsim/lb/l4"
	nstls "netsim/tls"
)

// Config is lbd's whole configuration. configs/lbd.yaml documents every key.
type Config struct {
	// Name identifies this lbd in events and log lines ("lbd-eu"); default "lbd".
	Name      string           `mapstructure:"name"`
	Log       LogConfig        `mapstructure:"log"`
	Admin     AdminConfig      `mapstructure:"admin"`
	AccessLog AccessLogConfig  `mapstructure:"access_log"`
	Runtime   RuntimeConfig    `mapstructure:"runtime"`
	Frontends []FrontendConfig `mapstructure:"frontends"`
	Pools     []PoolConfig     `mapstructure:"pools"`
	// L4 are the TCP frontends and pools (package netsim/lb/l4), run next
	// to the HTTP frontends and shown under /api/v1/l4/.
	L4 l4.Config `mapstructure:"l4"`
}

// LogConfig selects the zap logger.
type LogConfig struct {
	Format string `mapstructure:"format"` // console | json
	Level  string `mapstructure:"level"`  // debug | info | warn | error
}

// AdminConfig is the admin API / metrics listener.
type AdminConfig struct {
	Listen string `mapstructure:"listen"`
	Token  string `mapstructure:"token"`
	Pprof  bool   `mapstructure:"pprof"`
	// Lockout answers 429 to an address after repeated bad tokens
	// (internal/api.LockoutConfig; on by default, failures 0 turns it off).
	Lockout api.LockoutConfig `mapstructure:"lockout"`
}

// AccessLogConfig turns on the per-request log line.
type AccessLogConfig struct {
	Enabled    bool    `mapstructure:"enabled"`
	SampleRate float64 `mapstructure:"sample_rate"` // 1 = every request, 0.01 = one in 100
}

// RuntimeConfig holds process-wide Go runtime knobs. lb.New never applies
// them (they are global); cmd/lbd does.
type RuntimeConfig struct {
	GCPercent   int    `mapstructure:"gc_percent"`
	MemoryLimit string `mapstructure:"memory_limit"`
}

// FrontendConfig is one HTTP listener in front of one pool.
type FrontendConfig struct {
	Name   string `mapstructure:"name"`
	Listen string `mapstructure:"listen"`
	Pool   string `mapstructure:"pool"`
	H2C    bool   `mapstructure:"h2c"`
	// Engine runs the frontend's HTTP/1.1: "fast" (lbd's own connection
	// loop, the default) or "nethttp" (net/http's server and
	// httputil.ReverseProxy). h2c needs nethttp, its default there.
	Engine            string        `mapstructure:"engine"`
	MaxConnections    int           `mapstructure:"max_connections"`
	MaxBodyBytes      int64         `mapstructure:"max_body_bytes"`
	MaxHeaderFields   int           `mapstructure:"max_header_fields"` // [100 when 0]
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout"`
	BackendHeader     bool          `mapstructure:"backend_header"`
	// HSTSMaxAge adds Strict-Transport-Security: max-age=… to every
	// response of an HTTPS frontend (replacing a backend's own); 0: none.
	HSTSMaxAge time.Duration `mapstructure:"hsts_max_age"`
	// RedirectHTTPS names an HTTPS frontend: this plain frontend then
	// answers every request with a redirect to it (301 for GET and HEAD,
	// 308 otherwise, so methods and bodies are kept) instead of proxying.
	RedirectHTTPS string `mapstructure:"redirect_https"`
	// MaxConnectionsPerClient caps the open connections of one client
	// address (clientlimit.go); beyond it a new one is closed at accept.
	// 0, the default, is no cap.
	MaxConnectionsPerClient int `mapstructure:"max_connections_per_client"`
	// TLS makes this an HTTPS frontend (HTTP/2 by ALPN); nil: plain HTTP.
	TLS *FrontendTLS `mapstructure:"tls"`
	// Routes send requests by host, path, method and header to other
	// pools, or redirect or answer them (route_config.go); first match
	// wins, and what none matches goes to Pool.
	Routes []RouteConfig `mapstructure:"routes"`
	// RequestID names a header (X-Request-ID) that every request carries
	// to the backend, in the answer and in the access log: the client's
	// own when it sent one, else one lbd makes. Empty: off.
	RequestID string `mapstructure:"request_id"`
	// Cache is a shared response cache (RFC 9111, lb/httpcache) in front
	// of the pool; nil: off.
	Cache *httpcache.Config `mapstructure:"cache"`
	// Compress encodes responses (br, zstd, gzip; lb/compress); nil: off.
	Compress *compress.Config `mapstructure:"compress"`
}

// engine is the engine the frontend runs on: Engine, or when unset fast
// (nethttp with h2c).
func (f *FrontendConfig) engine() string {
	switch {
	case f.Engine != "":
		return f.Engine
	case f.H2C:
		return EngineNetHTTP
	}
	return EngineFast
}

// The frontend engines (FrontendConfig.Engine).
const (
	EngineFast    = "fast"
	EngineNetHTTP = "nethttp"
)

// FrontendTLS terminates TLS on a frontend (package netsim/tls).
type FrontendTLS struct {
	// Certs are PEM pairs, chosen per handshake by SNI; one may be the
	// default. Files are re-read on SIGHUP and when they change.
	Certs []nstls.Pair `mapstructure:"certs"`
	// Demo adds the demo PKI's server certificate (as the default unless a
	// pair says otherwise): at start and on every reload lbd makes sure
	// DemoDir holds a local CA and a certificate for *.example.test,
	// example.test, localhost, 127.0.0.1 and ::1 (tls.EnsureDemoPKI: made
	// once, reused, renewed 30 days before expiry) and logs how to trust it.
	Demo             bool          `mapstructure:"demo"`
	DemoDir          string        `mapstructure:"demo_dir"`    // [var/pki, relative to the working directory]
	ClientCA         string        `mapstructure:"client_ca"`   // PEM CAs for client certificates (mTLS)
	ClientAuth       string        `mapstructure:"client_auth"` // optional | require (default require with client_ca)
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout"`
	WatchInterval    time.Duration `mapstructure:"watch_interval"` // poll cert files; negative: off
}

// PoolConfig is a named group of backends and how to balance them.
type PoolConfig struct {
	Name              string          `mapstructure:"name"`
	Policy            string          `mapstructure:"policy"`
	HashKey           string          `mapstructure:"hash_key"`
	DialTimeout       time.Duration   `mapstructure:"dial_timeout"`
	ResponseTimeout   time.Duration   `mapstructure:"response_timeout"`
	QueueTimeout      time.Duration   `mapstructure:"queue_timeout"`
	Retries           *int            `mapstructure:"retries"`
	SlowStart         time.Duration   `mapstructure:"slow_start"`
	MaxIdlePerBackend int             `mapstructure:"max_idle_per_backend"`
	Sticky            StickyConfig    `mapstructure:"sticky"`
	Health            HealthConfig    `mapstructure:"health"`
	Passive           PassiveConfig   `mapstructure:"passive"`
	Backends          []BackendConfig `mapstructure:"backends"`
	// TLS re-encrypts: requests and HTTP health checks go to the backends
	// over TLS, verified against CA. nil: plain HTTP.
	TLS *PoolTLS `mapstructure:"tls"`
}

// PoolTLS is how lbd connects to a pool's backends over TLS (HAProxy's
// "server … ssl verify required ca-file …"). The files are read when the
// pool is built and again when a reload changes this block.
type PoolTLS struct {
	CA         string `mapstructure:"ca"`          // PEM CAs that sign the backends' certificates; empty: system roots
	ServerName string `mapstructure:"server_name"` // name verified in (and sent as SNI to) every backend; required
	Cert       string `mapstructure:"cert"`        // client certificate for backends that require one (mTLS)
	Key        string `mapstructure:"key"`
}

// StickyConfig pins a client to a backend.
type StickyConfig struct {
	Mode     string        `mapstructure:"mode"` // none | cookie | source_ip
	Cookie   string        `mapstructure:"cookie"`
	TTL      time.Duration `mapstructure:"ttl"`
	SameSite string        `mapstructure:"same_site"` // lax | strict | none
	Secret   string        `mapstructure:"secret"`
	// SecretFile holds the HMAC key instead of Secret (read at start and on
	// every reload): lbd instances that share it honour each other's cookies.
	SecretFile string `mapstructure:"secret_file"`
	MaxTable   int    `mapstructure:"max_table"` // source_ip entries
}

// HealthConfig is the active check: internal/health.CheckConfig's keys (type:
// http | tcp | none, path, host, expect_status, interval, timeout, rise,
// fall) and the load report's path.
type HealthConfig struct {
	hcheck.CheckConfig `mapstructure:",squash"`
	AgentPath          string `mapstructure:"agent_path"`
}

// PassiveConfig ejects a backend after consecutive failures.
type PassiveConfig struct {
	ConsecutiveFailures int           `mapstructure:"consecutive_failures"`
	Cooldown            time.Duration `mapstructure:"cooldown"`
}

// BackendConfig is one upstream server.
type BackendConfig struct {
	ID             string `mapstructure:"id" json:"id"`
	Address        string `mapstructure:"address" json:"address"`
	Weight         *int   `mapstructure:"weight" json:"weight,omitempty"`
	MaxConnections int64  `mapstructure:"max_connections" json:"max_connections,omitempty"`
}

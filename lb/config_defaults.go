package lb

import (
	"strconv"
	"time"

	nstls "netsim/tls"
)

// orDefault sets *p to def when it is the zero value (not set in the file).
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (c *Config) applyDefaults() {
	orDefault(&c.Name, "lbd")
	orDefault(&c.Log.Format, "console")
	orDefault(&c.Log.Level, "info")
	orDefault(&c.Admin.Listen, "127.0.0.1:8404")
	orDefault(&c.AccessLog.SampleRate, 1)
	for i := range c.Frontends {
		f := &c.Frontends[i]
		name := "http"
		if i > 0 {
			name = "http" + strconv.Itoa(i+1)
		}
		orDefault(&f.Name, name)
		orDefault(&f.MaxConnections, 10000)
		orDefault(&f.MaxBodyBytes, 10<<20)
		orDefault(&f.ReadHeaderTimeout, 10*time.Second)
		orDefault(&f.IdleTimeout, 60*time.Second)
		orDefault(&f.ShutdownTimeout, 30*time.Second)
		for j := range f.Routes {
			f.Routes[j].applyDefaults()
		}
		if t := f.TLS; t != nil {
			if t.Demo {
				orDefault(&t.DemoDir, nstls.DefaultPKIDir)
			}
			orDefault(&t.HandshakeTimeout, 10*time.Second)
			orDefault(&t.WatchInterval, 2*time.Second)
		}
	}
	for i := range c.Pools {
		p := &c.Pools[i]
		orDefault(&p.Policy, "round_robin")
		orDefault(&p.DialTimeout, 2*time.Second)
		orDefault(&p.ResponseTimeout, 30*time.Second)
		orDefault(&p.QueueTimeout, 5*time.Second)
		orDefault(&p.Retries, ptr(1))
		orDefault(&p.MaxIdlePerBackend, 256)
		s := &p.Sticky
		orDefault(&s.Mode, "none")
		orDefault(&s.Cookie, "lb_"+p.Name)
		orDefault(&s.SameSite, "lax")
		orDefault(&s.MaxTable, 100000)
		h := &p.Health
		orDefault(&h.Type, "http")
		if h.Type == "http" {
			orDefault(&h.Path, "/healthz")
		}
		orDefault(&h.Interval, 2*time.Second)
		orDefault(&h.Timeout, time.Second)
		orDefault(&h.Rise, 2)
		orDefault(&h.Fall, 3)
		orDefault(&p.Passive.Cooldown, 10*time.Second)
		for j := range p.Backends {
			orDefault(&p.Backends[j].Weight, ptr(1))
		}
	}
}

func ptr[T any](v T) *T { return &v }

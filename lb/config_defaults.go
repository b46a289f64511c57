package lb

import (
	"strconv"
	"time"

	nstls "netsim/tls"
)

func (c *Config) applyDefaults() {
	if c.Name == "" {
		c.Name = "lbd"
	}
	if c.Log.Format == "" {
		c.Log.Format = "console"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:8404"
	}
	if c.AccessLog.SampleRate == 0 {
		c.AccessLog.SampleRate = 1
	}
	for i := range c.Frontends {
		f := &c.Frontends[i]
		if f.Name == "" {
			f.Name = "http"
			if i > 0 {
				f.Name = "http" + strconv.Itoa(i+1)
			}
		}
		if f.MaxConnections == 0 {
			f.MaxConnections = 10000
		}
		if f.MaxBodyBytes == 0 {
			f.MaxBodyBytes = 10 << 20
		}
		if f.ReadHeaderTimeout == 0 {
			f.ReadHeaderTimeout = 10 * time.Second
		}
		if f.IdleTimeout == 0 {
			f.IdleTimeout = 60 * time.Second
		}
		if f.ShutdownTimeout == 0 {
			f.ShutdownTimeout = 30 * time.Second
		}
		if t := f.TLS; t != nil {
			if t.Demo && t.DemoDir == "" {
				t.DemoDir = nstls.DefaultPKIDir
			}
			if t.HandshakeTimeout == 0 {
				t.HandshakeTimeout = 10 * time.Second
			}
			if t.WatchInterval == 0 {
				t.WatchInterval = 2 * time.Second
			}
		}
	}
	for i := range c.Pools {
		p := &c.Pools[i]
		if p.Policy == "" {
			p.Policy = "round_robin"
		}
		if p.DialTimeout == 0 {
			p.DialTimeout = 2 * time.Second
		}
		if p.ResponseTimeout == 0 {
			p.ResponseTimeout = 30 * time.Second
		}
		if p.QueueTimeout == 0 {
			p.QueueTimeout = 5 * time.Second
		}
		if p.Retries == nil {
			one := 1
			p.Retries = &one
		}
		if p.MaxIdlePerBackend == 0 {
			p.MaxIdlePerBackend = 256
		}
		s := &p.Sticky
		if s.Mode == "" {
			s.Mode = "none"
		}
		if s.Cookie == "" {
			s.Cookie = "lb_" + p.Name
		}
		if s.SameSite == "" {
			s.SameSite = "lax"
		}
		if s.MaxTable == 0 {
			s.MaxTable = 100000
		}
		h := &p.Health
		if h.Type == "" {
			h.Type = "http"
		}
		if h.Path == "" && h.Type == "http" {
			h.Path = "/healthz"
		}
		if h.Interval == 0 {
			h.Interval = 2 * time.Second
		}
		if h.Timeout == 0 {
			h.Timeout = time.Second
		}
		if h.Rise == 0 {
			h.Rise = 2
		}
		if h.Fall == 0 {
			h.Fall = 3
		}
		if p.Passive.Cooldown == 0 {
			p.Passive.Cooldown = 10 * time.Second
		}
		for j := range p.Backends {
			if p.Backends[j].Weight == nil {
				one := 1
				p.Backends[j].Weight = &one
			}
		}
	}
}

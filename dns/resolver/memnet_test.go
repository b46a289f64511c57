package resolver

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// memWorld is a world without sockets: the resolver dials in-memory
// connections (net.Pipe) served by the same fakes, so a test can run in a
// testing/synctest bubble where upstream timeouts and the resolution limit
// run on the bubble's clock and a loaded machine cannot change the result.
func memWorld(t *testing.T, spec map[string]map[string]string) *world {
	t.Helper()
	return memWorldZones(layout(t, spec))
}

// memEmbeddedWorld is embeddedWorld (the demo hierarchy) in memory.
func memEmbeddedWorld(t *testing.T) *world {
	t.Helper()
	zs := dnstest.Embedded(t)
	return memWorldZones(map[string][]*zones.Zone{
		"127.0.1.1": {zs["."]},
		"127.0.2.1": {zs["test."]},
		"127.0.3.1": {zs["example.test."]},
		"127.0.3.2": {zs["example.test."]},
		"127.0.4.1": {zs["sub.example.test."]},
	})
}

func memWorldZones(layout map[string][]*zones.Zone) *world {
	w := &world{port: 53, servers: map[string]*fake{}}
	for ip, zs := range layout {
		ap := netip.AddrPortFrom(netip.MustParseAddr(ip), w.port)
		f := &fake{addr: ap, byName: map[string]int{}}
		f.h = server.NewHandler(ap.String(), auth.NewSet(zs), nil, server.NewMetrics(nil))
		w.servers[ip] = f
	}
	return w
}

// dial connects to the fake at address over an in-memory pipe. An address
// with no fake (or a stopped one) refuses, as a closed UDP port answers
// with ICMP port unreachable.
func (w *world) dial(_ context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	f := w.servers[ap.Addr().String()]
	if f == nil || f.stopped.Load() || ap.Port() != w.port {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	cli, srv := net.Pipe()
	go f.servePipe(srv, network == "tcp")
	return cli, nil
}

// servePipe answers queries on one in-memory connection until the
// resolver closes it: one message per write for "udp", length-prefixed
// messages for "tcp".
func (f *fake) servePipe(c net.Conn, tcp bool) {
	defer c.Close()
	co := &dns.Conn{Conn: c}
	buf := make([]byte, 65535)
	for {
		var req *dns.Msg
		if tcp {
			m, err := co.ReadMsg()
			if err != nil {
				return
			}
			req = m
		} else {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			req = new(dns.Msg)
			if req.Unpack(buf[:n]) != nil {
				continue
			}
		}
		f.ServeDNS(&pipeWriter{c: c, co: co, tcp: tcp}, req)
	}
}

// pipeWriter is the dns.ResponseWriter of an in-memory connection.
type pipeWriter struct {
	c   net.Conn
	co  *dns.Conn
	tcp bool
}

func (p *pipeWriter) LocalAddr() net.Addr { return p.addr() }
func (p *pipeWriter) RemoteAddr() net.Addr {
	return p.addr()
}

func (p *pipeWriter) addr() net.Addr {
	if p.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

func (p *pipeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = p.Write(b)
	return err
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.tcp {
		return p.co.Write(b) // adds the length prefix
	}
	return p.c.Write(b)
}

func (p *pipeWriter) Close() error        { return p.c.Close() }
func (p *pipeWriter) TsigStatus() error   { return nil }
func (p *pipeWriter) TsigTimersOnly(bool) {}
func (p *pipeWriter) Hijack()             {}
func (p *pipeWriter) Network() string {
	if p.tcp {
		return "tcp"
	}
	return "udp"
}

// newMemResolver is newTestResolver over a memWorld's in-memory network.
func newMemResolver(t *testing.T, w *world, root string, mod func(*Config), opts ...Option) *Resolver {
	t.Helper()
	r, _ := newTestResolver(t, w, root, mod, append(opts, WithDialer(w.dial))...)
	return r
}

package l4

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"netsim/tls/sni"
)

// Outcomes of a connection (label values of lbd_l4_connections_total).
const (
	resultOK          = "ok"
	resultClientLimit = "client_limit"
	resultBadProxy    = "bad_proxy_header"
	resultBadHello    = "bad_client_hello"
	resultNoRoute     = "no_route"
	resultNoBackend   = "no_backend"
	resultDialError   = "dial_error"
)

// handle serves one client connection: a *net.TCPConn, or the world's
// wrapping of one.
func (f *frontend) handle(c net.Conn) {
	client := addrPort(c.RemoteAddr()).Addr().Unmap()
	clientAP := netip.AddrPortFrom(client, addrPort(c.RemoteAddr()).Port())
	localAP := addrPort(c.LocalAddr())
	rt := f.rt.Load()
	f.met.active.Inc()
	defer f.met.active.Dec()
	fail := func(result string, err error) {
		f.s.met.conns.WithLabelValues(f.cfg.Name, result).Inc()
		if ce := f.s.log.Check(zap.DebugLevel, "tcp connection refused"); ce != nil {
			ce.Write(zap.String("frontend", f.cfg.Name), zap.Stringer("client", clientAP), zap.String("result", result), zap.Error(err))
		}
		_ = c.Close()
	}

	var prefix []byte
	if len(rt.trusted) > 0 && rt.isTrusted(client) {
		_ = c.SetReadDeadline(time.Now().Add(rt.cfg.HelloTimeout))
		h, rest, err := ReadProxyHeader(c)
		if err != nil {
			fail(resultBadProxy, err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if !h.Local {
			clientAP, localAP = h.Src, h.Dst
		}
		prefix = rest
	}
	ok, counted := f.clientIn(clientAP.Addr(), rt.cfg.MaxConnsPerClient)
	if !ok {
		fail(resultClientLimit, nil)
		return
	}
	if counted {
		defer f.clientOut(clientAP.Addr())
	}

	p := rt.def
	sniName := ""
	if len(rt.cfg.SNI) > 0 {
		pc := sni.NewConn(c, prefix)
		hello, sc, err := sni.Peek(pc, sni.Options{Timeout: rt.cfg.HelloTimeout})
		prefix = append(sc.Peeked(), pc.Peeked()...)
		switch {
		case err == nil:
			sniName = hello.ServerName
			p = rt.route(hello.ServerName)
		case errors.Is(err, sni.ErrNotTLS) && rt.def != nil:
			// Not TLS at all: the default pool takes it as plain TCP.
		default:
			fail(resultBadHello, err)
			return
		}
		if p == nil {
			fail(resultNoRoute, fmt.Errorf("no route for server name %q", hello.ServerName))
			return
		}
	}

	b, bc, err := p.connect(f.s.ctx, clientAP.Addr())
	if err != nil {
		if errors.Is(err, errNoBackend) {
			fail(resultNoBackend, err)
		} else {
			fail(resultDialError, err)
		}
		return
	}
	defer b.Release()
	f.met.ok.Inc()

	if p.cfg.SendProxy != ProxyNone {
		prefix = append(AppendProxyHeader(nil, p.cfg.SendProxy, clientAP, localAP), prefix...)
	}
	bm := p.met[b]
	sess := &session{client: c, backend: bc, met: bm}
	if !f.s.track(b, sess) {
		sess.abort() // the backend went to maintenance while we dialled
		return
	}
	defer f.s.untrack(b, sess)
	start := time.Now()
	if ce := f.s.log.Check(zap.DebugLevel, "tcp connection"); ce != nil {
		ce.Write(zap.String("frontend", f.cfg.Name), zap.Stringer("client", clientAP), zap.String("sni", sniName),
			zap.String("pool", p.cfg.Name), zap.String("backend", b.ID()))
	}
	if len(prefix) > 0 {
		_ = bc.SetWriteDeadline(time.Now().Add(rt.cfg.HelloTimeout))
		if _, err := bc.Write(prefix); err != nil {
			sess.abort()
			return
		}
		_ = bc.SetWriteDeadline(time.Time{})
	}
	in, out := sess.pipe(rt.cfg.IdleTimeout, f.s.pipes)
	in += int64(len(prefix))
	bm.in.Add(float64(in))
	bm.out.Add(float64(out))
	f.met.duration.Observe(time.Since(start).Seconds())
}

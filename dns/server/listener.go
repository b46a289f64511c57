package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"netsim/internal/world"
)

// Limits of one listener.
type Limits struct {
	// TCPIdle closes a TCP connection with no query for this long (RFC 7766 §6.2.3).
	TCPIdle time.Duration
	// TCPConns caps concurrent TCP connections. A connection past it
	// takes the place of the one idle longest (RFC 7766 §6.2.3), and is
	// closed only when every connection is busy with a query.
	TCPConns int
	// TCPPerClient caps the connections of one client address, so one
	// client cannot take every slot: past it, the client's own connection
	// idle longest is closed.
	TCPPerClient int
	// Inflight caps the resolutions in flight (UDP and TCP together; BIND's
	// recursive-clients): past it a UDP query is dropped (the client
	// retries) and a TCP one answered SERVFAIL, rather than queued without bound.
	Inflight int
}

// DefaultLimits are used for zero fields.
var DefaultLimits = Limits{TCPIdle: 10 * time.Second, TCPConns: 1024, TCPPerClient: 64, Inflight: 4096}

// Listener serves one address over UDP and TCP.
type Listener struct {
	Addr    string    // the bound address (with the real port when :0 was asked)
	epoch   time.Time // TCP idle times count from here on the monotonic clock
	handler *Handler
	log     *zap.Logger
	limits  Limits
	udp     []udpSocket  // one per reader with SO_REUSEPORT, else one
	tcp     net.Listener // a *net.TCPListener, wrapped by the world when it has distance
	sem     chan struct{}

	// world delays (or loses) replies by the distance between the client
	// and self; sched sends the delayed UDP replies. Both are unset in a
	// flat world, where the reply path is what it was without them.
	world *world.World
	sched *world.Scheduler
	self  netip.Addr

	mu        sync.Mutex
	conns     map[*tcpConn]struct{}
	perClient map[netip.Addr]int
	wg        sync.WaitGroup
	bufs      sync.Pool // *[]byte for TCP queries and replies (tcp.go)
}

// Listen binds UDP and TCP on addr (the same port for both; with port 0 a
// free port is chosen for UDP and then taken for TCP too).
// Queries are answered inline, a batch at a time; one that needs a
// resolution (which may take seconds) is handed to a goroutine of its own.
func Listen(addr string, h *Handler, limits Limits, log *zap.Logger) (*Listener, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if limits.TCPIdle <= 0 {
		limits.TCPIdle = DefaultLimits.TCPIdle
	}
	if limits.TCPConns <= 0 {
		limits.TCPConns = DefaultLimits.TCPConns
	}
	if limits.TCPPerClient <= 0 {
		limits.TCPPerClient = DefaultLimits.TCPPerClient
	}
	if limits.Inflight <= 0 {
		limits.Inflight = DefaultLimits.Inflight
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %v (want ip:port)", addr, err)
	}
	// one UDP socket per reader when the kernel can spread datagrams over
	// them (SO_REUSEPORT); the TCP port is bound without it, so a second
	// server on the same address still fails to start
	readers := max(1, runtime.GOMAXPROCS(0))
	reuse := canReusePort && readers > 1
	var lastErr error
	for try := 0; try < 10; try++ {
		udp, err := listenUDP(ap, reuse)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		bound := netip.AddrPortFrom(ap.Addr(), udp.Port())
		tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(bound))
		if err != nil {
			udp.Close()
			lastErr = err
			if ap.Port() == 0 {
				continue // the port was free for UDP only; try another
			}
			return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		udps := []udpSocket{udp}
		for reuse && len(udps) < readers {
			u, err := listenUDP(bound, true)
			if err != nil {
				for _, u := range udps {
					u.Close()
				}
				tcp.Close()
				return nil, fmt.Errorf("listen udp %s (socket %d of %d, SO_REUSEPORT): %w", bound, len(udps)+1, readers, err)
			}
			udps = append(udps, u)
		}
		return &Listener{
			Addr: bound.String(), handler: h, log: log, limits: limits,
			udp: udps, tcp: tcp, sem: make(chan struct{}, limits.Inflight),
			conns: map[*tcpConn]struct{}{}, perClient: map[netip.Addr]int{}, epoch: time.Now(),
		}, nil
	}
	return nil, fmt.Errorf("listen %s: no port free for both UDP and TCP: %v", addr, lastErr)
}

// SetWorld puts the listener in w (before Serve): every reply reaches its
// client one round trip of the modelled distance later, or is lost, without
// holding up the reader (internal/world). A nil or flat w changes nothing.
func (l *Listener) SetWorld(w *world.World) {
	if w.Flat() {
		return
	}
	l.world = w
	l.self = netip.MustParseAddrPort(l.Addr).Addr().Unmap()
	l.tcp = w.Listener(l.tcp)
}

// Handler returns the listener's handler.
func (l *Listener) Handler() *Handler { return l.handler }

// Serve runs the read loops until ctx is done, then closes the sockets and
// waits for in-flight queries to finish.
func (l *Listener) Serve(ctx context.Context) {
	if l.world != nil {
		l.sched = world.NewScheduler(0)
	}
	readers := max(1, runtime.GOMAXPROCS(0), len(l.udp))
	for i := 0; i < readers; i++ {
		l.wg.Add(1)
		go l.serveUDP(ctx, l.udp[i%len(l.udp)])
	}
	l.wg.Add(1)
	go l.serveTCP(ctx)
	<-ctx.Done()
	for _, u := range l.udp {
		u.Shutdown() // wakes the readers; the sockets close once they are done
	}
	l.tcp.Close()
	l.mu.Lock()
	for c := range l.conns {
		// let a query being answered finish; the read side stops at once
		_ = c.SetReadDeadline(time.Now())
	}
	l.mu.Unlock()
	l.wg.Wait()
	if l.sched != nil {
		l.sched.Close() // after the readers and resolutions, before the sockets it writes to
	}
	for _, u := range l.udp {
		u.Close()
	}
}

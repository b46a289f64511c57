package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"time"

	"go.uber.org/zap"
)

// udpReadSize is a UDP reader's buffer for one query: what we tell
// clients we accept. A longer datagram arrives cut to it: answered when
// the query is whole in it (what follows a query is ignored), FORMERR
// when not. Replies are packed into buffers of maxUDPSize; only TCP
// carries up to 64 KiB, in buffers of its own.
const udpReadSize = advertisedUDPSize

// Socket buffers of each UDP socket: a burst of queries waits in the
// kernel rather than being dropped while the readers are busy (NSD and
// Knot size theirs the same way).
const (
	udpRecvBuffer = 4 << 20
	udpSendBuffer = 1 << 20
)

// batch is how many datagrams one read or write moves (recvmmsg and
// sendmmsg on Linux).
const batch = 64

// udpSocket is one UDP socket of a listener (udp_linux.go, udp_other.go).
type udpSocket interface {
	// WriteToUDPAddrPort sends one datagram (world.PacketWriter).
	WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error)
	// newBatch returns a reader's buffers: n datagrams of size bytes.
	newBatch(n, size int) udpBatch
	// Port is the bound port.
	Port() uint16
	// Shutdown wakes the readers, whose reads then fail with net.ErrClosed.
	Shutdown()
	// Close releases the socket, once nothing uses it.
	Close() error
}

// udpBatch is one reader's datagrams in and replies out.
type udpBatch interface {
	// read waits for at least one datagram and returns how many came.
	read() (int, error)
	// in returns datagram i of the last read and its sender.
	in(i int) ([]byte, netip.AddrPort)
	// queue adds a reply to the next flush (reply is not copied).
	queue(reply []byte, to netip.AddrPort)
	// flush sends the queued replies (a reply that fails is skipped).
	flush() error
}

// serveUDP answers inline, a batch at a time: read up to 64 queries with
// one system call, answer each, send the replies with one.
func (l *Listener) serveUDP(ctx context.Context, udp udpSocket) {
	defer l.wg.Done()
	b := udp.newBatch(batch, udpReadSize)
	replies := make([][]byte, batch)
	for i := range replies {
		replies[i] = make([]byte, 0, maxUDPSize)
	}
	var t tally
	answered := 0
	for {
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			l.log.Warn("udp read", zap.String("listener", l.Addr), zap.Error(err))
			continue
		}
		t.start = time.Now()
		spawned := false
		for i := 0; i < n; i++ {
			pkt, from := b.in(i)
			client := from.Addr().Unmap()
			rtt, lost := l.world.Path(client, l.self)
			if lost {
				continue // the query or its reply is lost on the way
			}
			reply, done := l.handler.tryServe(pkt, client, UDP, replies[i], t.start, &t)
			if !done {
				// a resolution: answered from a goroutine of its own, so
				// cache hits behind it are not held up
				l.resolveAsync(ctx, udp, pkt, client, from, rtt)
				spawned = true
				continue
			}
			if reply == nil {
				continue
			}
			if cap(reply) > cap(replies[i]) {
				replies[i] = reply[:0] // keep the bigger buffer for next time
			}
			if rtt > 0 {
				l.sched.Send(udp, reply, from, rtt) // copies reply
				continue
			}
			b.queue(reply, from)
		}
		l.handler.metrics.observeBatch(l.handler.sm, l.handler.Name, UDP, &t)
		if err := b.flush(); errors.Is(err, net.ErrClosed) {
			return
		}
		// Under load the reader does not block (udp_linux.go reads and
		// sends without the scheduler's system-call hand-off), so it
		// lets the goroutines it woke run: a resolution it started,
		// timers, the TCP side, at least every batch's worth of answers.
		if answered += n; spawned || answered >= batch {
			answered = 0
			runtime.Gosched()
		}
	}
}

// resolveAsync answers a query that needs upstream servers in its own
// goroutine, bounded by the in-flight limit (past it the query is dropped
// and the client retries); the reply leaves rtt after the answer is ready.
func (l *Listener) resolveAsync(ctx context.Context, udp udpSocket, pkt []byte, client netip.Addr, to netip.AddrPort, rtt time.Duration) {
	select {
	case l.sem <- struct{}{}:
	default:
		l.handler.metrics.shedResolution(l.handler.Name, UDP)
		return
	}
	pkt = append([]byte(nil), pkt...)
	l.wg.Add(1)
	go func() {
		defer func() { <-l.sem; l.wg.Done() }()
		if reply := l.handler.ServePacket(ctx, pkt, client, UDP, nil); reply != nil {
			if rtt > 0 {
				l.sched.Send(udp, reply, to, rtt)
				return
			}
			_, _ = udp.WriteToUDPAddrPort(reply, to)
		}
	}()
}

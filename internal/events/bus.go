// Package events is the daemons' event bus: dnsd and lbd publish what
// happens (a query answered, a backend picked, a health check) and the
// admin API streams it as Server-Sent Events (sse.go) to whoever listens,
// such as netsim's live page.
//
// The data path must not notice the bus. With nobody subscribed, Active
// is one atomic load and producers build nothing; with subscribers, each
// has a bounded buffer, and an event that does not fit is dropped and
// counted rather than waited for: a slow or stuck reader loses events, it
// never slows a query or a request.
package events

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Event is one thing that happened. Its JSON encoding gives the event's
// fields; the bus adds "type" and "time" in front of them. An event is
// read by every subscriber's stream after Publish: it must not change
// once published (copy slices the producer keeps using).
type Event interface {
	EventType() string
}

// Message is an event as a subscriber receives it: numbered (Seq, the
// SSE id) and stamped with the bus's clock.
type Message struct {
	Seq   uint64
	Time  time.Time
	Event Event
}

// DefaultBuffer is the events a subscriber's buffer holds before it drops.
const DefaultBuffer = 1024

// Options configure a Bus.
type Options struct {
	// Namespace prefixes the metrics: "dnsd" gives dnsd_events_dropped_total.
	Namespace string
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Buffer is each subscriber's capacity; 0 means DefaultBuffer.
	Buffer int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Heartbeat is the interval of the SSE ": ping" comment; 0 means 15 s.
	Heartbeat time.Duration
}

// Bus fans events out to subscribers. A nil *Bus is valid and inactive.
type Bus struct {
	opts Options
	// subs is the current subscriber list, copied on change; nil when
	// there is none, so Active is one atomic load.
	subs atomic.Pointer[[]*Subscription]
	seq  atomic.Uint64

	mu     sync.Mutex // serialises subscribe, unsubscribe and Close
	closed bool
	done   chan struct{} // closed by Close

	lost      atomic.Uint64 // every drop, for Dropped
	dropped   prometheus.Counter
	published prometheus.Counter
	listeners prometheus.Gauge
}

// New builds a bus and registers its metrics.
func New(o Options) *Bus {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	b := &Bus{opts: o, done: make(chan struct{})}
	b.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: o.Namespace, Subsystem: "events", Name: "dropped_total",
		Help: "Events lost because a subscriber's buffer was full (the subscriber is told how many).",
	})
	b.published = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: o.Namespace, Subsystem: "events", Name: "published_total",
		Help: "Events published while at least one subscriber listened.",
	})
	b.listeners = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: o.Namespace, Subsystem: "events", Name: "subscribers",
		Help: "Event stream subscribers connected.",
	})
	if o.Registerer != nil {
		o.Registerer.MustRegister(b.dropped, b.published, b.listeners)
	}
	return b
}

// Active reports whether anyone listens. It is one atomic load: producers
// call it before building an event, so that nothing is allocated when
// nobody listens.
func (b *Bus) Active() bool {
	return b != nil && b.subs.Load() != nil
}

// Wants reports whether some subscriber takes events of type typ.
func (b *Bus) Wants(typ string) bool {
	if b == nil {
		return false
	}
	p := b.subs.Load()
	if p == nil {
		return false
	}
	for _, s := range *p {
		if s.match(typ) {
			return true
		}
	}
	return false
}

// Publish hands e to every subscriber whose filter takes it, never
// waiting: a full buffer loses the event and counts the loss.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	p := b.subs.Load()
	if p == nil {
		return
	}
	typ := e.EventType()
	m := Message{Event: e}
	for _, s := range *p {
		if !s.match(typ) {
			continue
		}
		if m.Seq == 0 {
			m.Seq, m.Time = b.seq.Add(1), b.opts.Now().UTC()
			b.published.Inc()
		}
		select {
		case s.ch <- m:
		default:
			s.lost.Add(1)
			b.lost.Add(1)
			b.dropped.Inc()
		}
	}
}

// Dropped is how many events full buffers have lost since New (the
// events_dropped_total metric).
func (b *Bus) Dropped() uint64 {
	if b == nil {
		return 0
	}
	return b.lost.Load()
}

// Subscription is one listener's buffer. Read C; call Lost after a
// batch to learn how many events did not fit; Close when done.
type Subscription struct {
	bus   *Bus
	ch    chan Message
	types []string // type prefixes taken; empty takes everything
	lost  atomic.Uint64
	once  sync.Once
}

// Subscribe adds a listener for events whose type starts with one of
// types (all events when types is empty). It returns nil when the bus is
// closed.
func (b *Bus) Subscribe(types ...string) *Subscription {
	s := &Subscription{bus: b, ch: make(chan Message, b.opts.Buffer), types: types}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var next []*Subscription
	if p := b.subs.Load(); p != nil {
		next = append(next, *p...)
	}
	next = append(next, s)
	b.subs.Store(&next)
	b.listeners.Inc()
	return s
}

// C delivers the subscriber's events.
func (s *Subscription) C() <-chan Message { return s.ch }

// Lost returns the events dropped since the last call and resets the count.
func (s *Subscription) Lost() uint64 { return s.lost.Swap(0) }

// Close removes the subscription; publishers stop sending to it at once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		b := s.bus
		b.mu.Lock()
		defer b.mu.Unlock()
		p := b.subs.Load()
		if p == nil {
			return
		}
		var next []*Subscription
		for _, x := range *p {
			if x != s {
				next = append(next, x)
			}
		}
		if len(next) == 0 {
			b.subs.Store(nil)
		} else {
			b.subs.Store(&next)
		}
		b.listeners.Dec()
	})
}

func (s *Subscription) match(typ string) bool {
	if len(s.types) == 0 {
		return true
	}
	for _, t := range s.types {
		if strings.HasPrefix(typ, t) {
			return true
		}
	}
	return false
}

// Done is closed when the bus is closed: streams end.
func (b *Bus) Done() <-chan struct{} { return b.done }

// Close ends every stream and refuses new subscribers. Register it with
// http.Server.RegisterOnShutdown: Shutdown does not end streaming
// handlers by itself.
func (b *Bus) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

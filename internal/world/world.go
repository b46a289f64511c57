// Package world gives netsim's simulated internet distance: named places
// (regions, the DNS hierarchy's servers, the resolver), each owning address
// prefixes, and a matrix of one-way latency, jitter, loss and bandwidth
// between them. Servers apply it to what they send (README.md: "the server
// side applies the distance"); a flat world (nil, or `world: off`) costs
// one branch and no allocation.
package world

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// World is the current model, swapped atomically on every change. A nil
// *World is flat: every method works on it and reports no distance.
type World struct {
	flat    bool
	base    *model // as configured; a reset returns to it
	cur     atomic.Pointer[model]
	mu      sync.Mutex // serialises changes and their events
	onEvent func(Event)
	now     func() time.Time
	rnd     *lockedRand // nil: math/rand/v2's goroutine-safe source
}

// Options are a World's seams.
type Options struct {
	// Seed, when not zero, makes jitter and loss draws deterministic (tests).
	Seed uint64
	// OnEvent is called after each change, in order, with the world's
	// change lock held: it must not block or change the world itself.
	OnEvent func(Event)
	// Now stamps events; time.Now when nil.
	Now func() time.Time
}

// Event kinds.
const (
	LinkChanged = "world_link_changed" // one link set at run time
	LinkReset   = "world_link_reset"   // one link back to its configured value
	LinksReset  = "world_links_reset"  // every link back to its configured value
)

// Event is one change of the world at run time.
type Event struct {
	Kind   string    `json:"kind"`
	A      string    `json:"a,omitempty"`
	B      string    `json:"b,omitempty"`
	Before LinkView  `json:"before"`
	After  LinkView  `json:"after"`
	Time   time.Time `json:"time"`
}

// ErrFlat is returned by changes to a flat world: its servers were not
// wrapped at start, so no change could take effect.
var ErrFlat = errors.New("the world is flat (netsim --flat or world: off): restart with distance on to change links")

// UnknownPlaceError names a place that is not in the world.
type UnknownPlaceError struct {
	Name  string
	Known []string
}

func (e *UnknownPlaceError) Error() string {
	return fmt.Sprintf("place %q is not in the world; want one of %s", e.Name, strings.Join(e.Known, ", "))
}

// New builds a world from c (validated first; see Config). c.Off gives a
// flat world, which is not nil so the admin API can say so.
func New(c Config, o Options) (*World, error) {
	w := &World{onEvent: o.OnEvent, now: o.Now}
	if w.now == nil {
		w.now = time.Now
	}
	if o.Seed != 0 {
		w.rnd = &lockedRand{r: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	}
	if c.Off {
		w.flat = true
		w.base = &model{index: map[string]int{}}
		w.cur.Store(w.base)
		return w, nil
	}
	m, err := compile(c)
	if err != nil {
		return nil, err
	}
	w.base = m
	w.cur.Store(m)
	return w, nil
}

// Flat reports whether w applies no distance at all.
func (w *World) Flat() bool { return w == nil || w.flat }

// Path is a request/response exchange between client and server (a DNS
// query over UDP): the round trip to add before the reply reaches the
// client, and whether the query or its reply is lost. Each way draws its
// own jitter and loss. Flat, or an address in no place: (0, false).
func (w *World) Path(client, server netip.Addr) (rtt time.Duration, drop bool) {
	l, ok := w.Between(client, server)
	if !ok {
		return 0, false
	}
	there, lost1 := w.sample(l)
	back, lost2 := w.sample(l)
	return there + back, lost1 || lost2
}

// OneWay is one packet from a to b: its delay and whether it is lost.
func (w *World) OneWay(from, to netip.Addr) (d time.Duration, drop bool) {
	l, ok := w.Between(from, to)
	if !ok {
		return 0, false
	}
	return w.sample(l)
}

// Between is the link in force between the places of two addresses;
// ok is false when the world is flat or an address is in no place.
func (w *World) Between(a, b netip.Addr) (l Link, ok bool) {
	if w == nil || w.flat {
		return Link{}, false
	}
	return w.cur.Load().link(a, b)
}

// PlaceOf names the place holding a ("" when none).
func (w *World) PlaceOf(a netip.Addr) string {
	if w == nil {
		return ""
	}
	m := w.cur.Load()
	if i := m.place(a); i >= 0 {
		return m.places[i].Name
	}
	return ""
}

// Link is the link in force between two places, by name.
func (w *World) Link(a, b string) (Link, error) {
	if w == nil || w.flat {
		return Link{}, ErrFlat
	}
	m := w.cur.Load()
	i, j, err := m.pair(a, b)
	if err != nil {
		return Link{}, err
	}
	return m.at(i, j), nil
}

func (m *model) pair(a, b string) (int, int, error) {
	i, ok := m.index[a]
	if !ok {
		return 0, 0, &UnknownPlaceError{Name: a, Known: m.names()}
	}
	j, ok := m.index[b]
	if !ok {
		return 0, 0, &UnknownPlaceError{Name: b, Known: m.names()}
	}
	return i, j, nil
}

// Change is a partial update of one link; nil fields keep their value.
type Change struct {
	Latency     *time.Duration
	Jitter      *time.Duration
	LossPercent *float64
	Bandwidth   *Bandwidth
}

// SetLink changes the link between places a and b (both ways) and emits
// LinkChanged. Values are checked as in a config file (*ConfigError).
func (w *World) SetLink(a, b string, c Change) (Link, error) {
	return w.change(a, b, LinkChanged, func(l, _ Link) (Link, error) { return c.apply(l, "links."+a+"."+b) })
}

// ResetLink puts the link between a and b back to its configured value
// and emits LinkReset (also when it was not changed: resets are idempotent).
func (w *World) ResetLink(a, b string) (Link, error) {
	return w.change(a, b, LinkReset, func(_, base Link) (Link, error) { return base, nil })
}

// change swaps in the link a–b that next computes from the current and
// the configured one, and emits kind.
func (w *World) change(a, b, kind string, next func(cur, base Link) (Link, error)) (Link, error) {
	if w == nil || w.flat {
		return Link{}, ErrFlat
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.cur.Load()
	i, j, err := m.pair(a, b)
	if err != nil {
		return Link{}, err
	}
	before := m.at(i, j)
	l, err := next(before, w.base.at(i, j))
	if err != nil {
		return before, err
	}
	w.cur.Store(m.with(i, j, l))
	w.emit(kind, m, i, j, before, l)
	return l, nil
}

// apply returns l changed by c, checked; key names the link in errors.
func (c Change) apply(l Link, key string) (Link, error) {
	if c.Latency != nil {
		if *c.Latency < 0 || *c.Latency > maxLatency {
			return l, bad(key+".latency", *c.Latency, "want a duration from 0 to %s", maxLatency)
		}
		l.Latency = *c.Latency
	}
	if c.Jitter != nil {
		if *c.Jitter < 0 || *c.Jitter > maxLatency {
			return l, bad(key+".jitter", *c.Jitter, "want a duration from 0 to %s", maxLatency)
		}
		l.Jitter = *c.Jitter
	}
	if c.LossPercent != nil {
		if p := *c.LossPercent; !(p >= 0 && p <= 100) {
			return l, bad(key+".loss_percent", p, "want a percentage from 0 to 100")
		}
		l.Loss = *c.LossPercent / 100
	}
	if c.Bandwidth != nil {
		if *c.Bandwidth < 0 {
			return l, bad(key+".bandwidth", int64(*c.Bandwidth), "want a positive bandwidth, or 0 for unlimited")
		}
		l.Bandwidth = *c.Bandwidth
	}
	if l.Jitter > l.Latency {
		return l, bad(key+".jitter", l.Jitter, "want at most the latency (%s), so no packet arrives before it was sent", l.Latency)
	}
	return l, nil
}

// ResetLinks puts every link back to its configured value (LinksReset).
func (w *World) ResetLinks() error {
	if w == nil || w.flat {
		return ErrFlat
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cur.Store(w.base)
	if w.onEvent != nil {
		w.onEvent(Event{Kind: LinksReset, Time: w.now()})
	}
	return nil
}

// Overridden reports whether the link a–b differs from its configured value.
func (w *World) Overridden(a, b string) bool {
	if w == nil || w.flat {
		return false
	}
	m := w.cur.Load()
	i, j, err := m.pair(a, b)
	return err == nil && m.at(i, j) != w.base.at(i, j)
}

func (w *World) emit(kind string, m *model, i, j int, before, after Link) {
	if w.onEvent == nil {
		return
	}
	a, b := m.places[i].Name, m.places[j].Name
	base := w.base.at(i, j)
	w.onEvent(Event{Kind: kind, A: a, B: b, Before: viewLink(a, b, before, before != base), After: viewLink(a, b, after, after != base), Time: w.now()})
}

// sample draws one packet's one-way delay on l and whether it is lost.
func (w *World) sample(l Link) (time.Duration, bool) {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration((w.float()*2 - 1) * float64(l.Jitter))
	}
	lost := l.Loss > 0 && w.float() < l.Loss
	return d, lost
}

func (w *World) float() float64 {
	var x uint64
	if w.rnd != nil {
		x = w.rnd.uint64()
	} else {
		x = rand.Uint64()
	}
	return float64(x>>11) / (1 << 53)
}

// lockedRand is a seeded source shared by goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint64()
}

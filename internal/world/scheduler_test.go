package world

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a PacketWriter that notes when each datagram was sent.
type recorder struct {
	mu   sync.Mutex
	sent []sent
}

type sent struct {
	at   time.Time
	data string
	to   netip.AddrPort
}

func (r *recorder) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{time.Now(), string(b), to})
	return len(b), nil
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

func TestSchedulerDelaysInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewScheduler(0)
		defer s.Close()
		var r recorder
		to := netip.MustParseAddrPort("127.0.10.5:5353")
		start := time.Now()
		buf := []byte("late")
		s.Send(&r, buf, to, 80*time.Millisecond)
		buf[0] = 'X' // the scheduler copied it
		s.Send(&r, []byte("early"), to, 10*time.Millisecond)
		s.Send(&r, []byte("tie-1"), to, 30*time.Millisecond)
		s.Send(&r, []byte("tie-2"), to, 30*time.Millisecond)
		s.Send(&r, []byte("now"), to, 0)
		time.Sleep(time.Second) // fake time: runs every timer
		synctest.Wait()
		want := []struct {
			data string
			at   time.Duration
		}{{"now", 0}, {"early", 10 * time.Millisecond}, {"tie-1", 30 * time.Millisecond}, {"tie-2", 30 * time.Millisecond}, {"late", 80 * time.Millisecond}}
		got := r.all()
		if len(got) != len(want) {
			t.Fatalf("sent %d, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			if got[i].data != w.data || got[i].at.Sub(start) != w.at || got[i].to != to {
				t.Errorf("#%d: %q at %v, want %q at %v", i, got[i].data, got[i].at.Sub(start), w.data, w.at)
			}
		}
		if s.Pending() != 0 {
			t.Errorf("%d still pending", s.Pending())
		}
	})
}

func TestSchedulerBoundAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewScheduler(3)
		var r recorder
		to := netip.MustParseAddrPort("127.0.0.1:1")
		for i := 0; i < 3; i++ {
			if !s.Send(&r, []byte("x"), to, time.Second) {
				t.Fatalf("send %d refused below the bound", i)
			}
		}
		if s.Send(&r, []byte("x"), to, time.Second) {
			t.Error("a fourth reply was accepted past the bound of 3")
		}
		s.Close()
		if s.Send(&r, []byte("x"), to, 0) {
			t.Error("Send after Close accepted")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := len(r.all()); n != 0 {
			t.Errorf("%d replies sent after Close dropped them", n)
		}
		s.Close() // twice is fine
	})
}

// TestSchedulerReusesBuffers: once warm, delayed replies allocate nothing.
func TestSchedulerReusesBuffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewScheduler(0)
		defer s.Close()
		w := discard{}
		to := netip.MustParseAddrPort("127.0.0.1:1")
		msg := make([]byte, 512)
		run := func() {
			for i := 0; i < 8; i++ {
				s.Send(w, msg, to, time.Millisecond)
			}
			time.Sleep(2 * time.Millisecond)
			synctest.Wait()
		}
		run()
		if n := testing.AllocsPerRun(20, run); n > 0 {
			t.Errorf("%v allocations per 8 delayed replies once warm", n)
		}
	})
}

type discard struct{}

func (discard) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }

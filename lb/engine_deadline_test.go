package lb

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// TestReadDeadlineAbout: a deadline already within slack after the one
// wanted is kept; one before it, or too far after, is replaced by
// wanted+slack; clear removes one only when set.
func TestReadDeadlineAbout(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const slack = 20 * time.Millisecond
	nc := &deadlineConn{}
	var d readDeadline
	steps := []struct {
		name string
		want time.Time
		set  bool // a new deadline is set (at want+slack)
	}{
		{"none set", t0, true},
		{"same", t0, false},
		{"later within slack", t0.Add(15 * time.Millisecond), false},
		{"at the edge", t0.Add(slack), false},
		{"past the one set", t0.Add(slack + time.Millisecond), true},
		{"earlier than slack allows", t0.Add(-time.Second), true},
	}
	for _, s := range steps {
		n := len(nc.set)
		d.about(nc, s.want, slack)
		if got := len(nc.set) > n; got != s.set {
			t.Fatalf("%s: set %v, want %v", s.name, got, s.set)
		}
		if s.set && !nc.set[len(nc.set)-1].Equal(s.want.Add(slack)) {
			t.Fatalf("%s: set %v, want %v", s.name, nc.set[len(nc.set)-1], s.want.Add(slack))
		}
		if d.at.Before(s.want) || d.at.After(s.want.Add(slack)) {
			t.Fatalf("%s: deadline %v not in [%v, +%v]", s.name, d.at, s.want, slack)
		}
	}
	n := len(nc.set)
	d.clear(nc)
	d.clear(nc)
	if len(nc.set) != n+1 || !nc.set[n].IsZero() || !d.at.IsZero() {
		t.Fatalf("clear twice set %v; want one zero deadline", nc.set[n:])
	}
}

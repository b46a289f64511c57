package lb

import (
	"net"
	"time"
)

// readDeadline is the read deadline last set on a connection. Setting
// one changes a runtime timer (and reads the clock twice more); a kept-
// alive connection would do it for every request, to about the same
// time each time. about leaves a deadline alone when it is already
// within slack after the one wanted: the timeout then fires up to slack
// late, and the timer is changed once per slack instead of per request.
type readDeadline struct{ at time.Time } // zero: none

func (d *readDeadline) set(nc net.Conn, t time.Time) {
	_ = nc.SetReadDeadline(t)
	d.at = t
}

// about sets the deadline to t, or keeps the one set if it lies in
// [t, t+slack]; a new one is set to t+slack, so that the next requests'
// (later) t still find it in range.
func (d *readDeadline) about(nc net.Conn, t time.Time, slack time.Duration) {
	if !d.at.Before(t) && !d.at.After(t.Add(slack)) {
		return
	}
	d.set(nc, t.Add(slack))
}

// clear removes the deadline, if one is set.
func (d *readDeadline) clear(nc net.Conn) {
	if !d.at.IsZero() {
		d.set(nc, time.Time{})
	}
}

package l4

import (
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// idleSession runs a session over in-memory pipes in a synctest bubble:
// client and backend are the far ends the test plays. done closes when the
// session has closed both sides.
func idleSession(idle time.Duration) (client, backend net.Conn, done chan struct{}) {
	c1, c2 := net.Pipe()
	b1, b2 := net.Pipe()
	s := &session{client: c1, backend: b1}
	done = make(chan struct{})
	go func() { defer close(done); s.pipe(idle, nil) }()
	return c2, b2, done
}

func closed(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// send writes one byte at from and reads it at to.
func send(t *testing.T, from, to net.Conn) {
	t.Helper()
	go func() { _, _ = from.Write([]byte{'x'}) }()
	if _, err := io.ReadFull(to, make([]byte, 1)); err != nil {
		t.Fatalf("byte lost: %v", err)
	}
}

// TestIdleTimeout checks the idle limit of a TCP session in fake time
// (testing/synctest): an active session outlives it, whichever way the
// bytes go, and a quiet one is closed between one and two limits after its
// last byte (issue 9, defect 12: no wall-clock bounds).
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		step func(t *testing.T, client, backend net.Conn)
	}{
		{"request and answer", func(t *testing.T, c, b net.Conn) { send(t, c, b); send(t, b, c) }},
		{"download only", func(t *testing.T, c, b net.Conn) { send(t, b, c) }},
		{"upload only", func(t *testing.T, c, b net.Conn) { send(t, c, b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client, backend, done := idleSession(idle)
				defer client.Close()
				defer backend.Close()
				for range 30 { // 3s of activity, ten limits
					time.Sleep(idle / 3)
					tc.step(t, client, backend)
					if closed(done) {
						t.Fatal("an active session was closed as idle")
					}
				}
				lastByte := time.Now()
				<-done
				if quiet := time.Since(lastByte); quiet < idle || quiet > 2*idle {
					t.Fatalf("closed %v after the last byte, want between %v and %v", quiet, idle, 2*idle)
				}
			})
		})
	}
	t.Run("never a byte", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			client, backend, done := idleSession(idle)
			defer client.Close()
			defer backend.Close()
			<-done
			if quiet := time.Since(start); quiet < idle || quiet > 2*idle {
				t.Fatalf("closed after %v, want between %v and %v", quiet, idle, 2*idle)
			}
		})
	})
	t.Run("half-closed then quiet", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client, backend, done := idleSession(idle)
			defer backend.Close()
			send(t, client, backend)
			client.Close() // EOF upstream: that direction ends
			lastByte := time.Now()
			<-done
			if quiet := time.Since(lastByte); quiet > 2*idle {
				t.Fatalf("closed %v after the last byte, want at most %v", quiet, 2*idle)
			}
		})
	})
}

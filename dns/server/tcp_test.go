package server_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// tcpServer serves example.test. (and rec, may be nil) with limits.
func tcpServer(t *testing.T, limits server.Limits, rec server.Recursor) string {
	t.Helper()
	return dnstest.Serve(t, dnstest.Listen(t, "127.0.0.1:0", []*zones.Zone{dnstest.Embedded(t)["example.test."]}, rec, limits)).Addr
}

// dialFrom opens a DNS-over-TCP connection from source address src.
func dialFrom(t *testing.T, src, addr string) *dns.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &dns.Conn{Conn: c}
}

// ask sends one query for name and reads its reply.
func ask(c *dns.Conn, name string) error {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMsg(m); err != nil {
		return err
	}
	r, err := c.ReadMsg()
	if err == nil && r.Id != m.Id {
		err = errors.New("reply to another query")
	}
	return err
}

// closedByServer reports whether the server closed c: a read ends with
// an error other than a timeout (the deadline only bounds a failing test).
func closedByServer(c *dns.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// A full TCP table does not lock new clients out: idle connections from
// several addresses fill it, and a new client's query is answered, the
// connection idle longest making room (RFC 7766 §6.2.3). Before, a full
// table closed every new connection (issue 9, defect 6).
func TestTCPFullTableClosesIdlest(t *testing.T) {
	// a table half full shortens the idle timeout to a fifth (2 s of the
	// default 10 s): held connections must not time out and free the room
	// the test expects the idlest to make.
	addr := tcpServer(t, server.Limits{TCPConns: 8, TCPPerClient: 4, TCPIdle: 5 * time.Minute}, nil)
	var held []*dns.Conn
	for i := 0; i < 8; i++ {
		c := dialFrom(t, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}[i%4], addr)
		if err := ask(c, "www.example.test."); err != nil { // in the table once answered
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	for i, src := range []string{"127.0.0.9", "127.0.0.10", "127.0.0.11"} {
		if err := ask(dialFrom(t, src, addr), "www.example.test."); err != nil {
			t.Fatalf("new client %s on a full table: %v", src, err)
		}
		if !closedByServer(held[i]) {
			t.Fatalf("connection %d, idle longest, is still open", i)
		}
	}
	if err := ask(held[7], "www.example.test."); err != nil {
		t.Errorf("the connection idle for the shortest time was closed: %v", err)
	}
}

// One client cannot take every TCP slot: past its own limit its
// connection idle longest makes room, and the other clients keep theirs.
func TestTCPPerClientLimit(t *testing.T) {
	addr := tcpServer(t, server.Limits{TCPPerClient: 3, TCPConns: 100}, nil)
	other := dialFrom(t, "127.0.0.3", addr)
	if err := ask(other, "www.example.test."); err != nil {
		t.Fatal(err)
	}
	var held []*dns.Conn
	for i := 0; i < 3; i++ {
		c := dialFrom(t, "127.0.0.2", addr)
		if err := ask(c, "www.example.test."); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	if err := ask(dialFrom(t, "127.0.0.2", addr), "www.example.test."); err != nil {
		t.Fatalf("a 4th connection of the client: %v", err)
	}
	if !closedByServer(held[0]) {
		t.Error("the client's connection idle longest is still open")
	}
	if err := ask(other, "www.example.test."); err != nil {
		t.Errorf("another client's connection was closed: %v", err)
	}
}

// signalRecursor is a slowRecursor that says when a resolution starts.
type signalRecursor struct {
	slowRecursor
	started chan struct{}
}

func (s signalRecursor) Resolve(ctx context.Context, req, resp *dns.Msg, client netip.Addr) {
	s.started <- struct{}{}
	s.slowRecursor.Resolve(ctx, req, resp, client)
}

// Only idle connections make room: when every one is waiting on an
// answer, a new connection is refused and the busy ones are answered.
func TestTCPFullTableOfBusyRefuses(t *testing.T) {
	rec := signalRecursor{slowRecursor{release: make(chan struct{})}, make(chan struct{}, 2)}
	addr := tcpServer(t, server.Limits{TCPConns: 2}, rec)
	var busy []*dns.Conn
	var ids []uint16
	for i := 0; i < 2; i++ {
		c := dialFrom(t, "127.0.0.2", addr)
		m := new(dns.Msg)
		m.SetQuestion("slow.", dns.TypeA)
		if err := c.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		busy, ids = append(busy, c), append(ids, m.Id)
	}
	<-rec.started
	<-rec.started
	if ask(dialFrom(t, "127.0.0.3", addr), "www.example.test.") == nil {
		t.Fatal("a connection was admitted to a table of busy connections")
	}
	close(rec.release)
	for i, c := range busy {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r, err := c.ReadMsg()
		if err != nil || r.Id != ids[i] {
			t.Errorf("busy connection %d: %v %v", i, r, err)
		}
	}
}

package l4

import (
	"bufio"
	ctls "crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	nstls "netsim/tls"

	"netsim/internal/testutil"
)

// startTLSBackend terminates TLS itself and answers one line with
// "<id> <server name it saw>".
func startTLSBackend(t *testing.T, id string) string {
	t.Helper()
	ca, err := nstls.NewCA("l4 test", time.Now().Add(-time.Hour), 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(nstls.LeafOptions{Names: []string{"*.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ctls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ctls.Listen("tcp", "127.0.0.1:0", &ctls.Config{Certificates: []ctls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) {
		tc := c.(*ctls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		if _, err := bufio.NewReader(tc).ReadString('\n'); err != nil {
			return
		}
		fmt.Fprintf(tc, "%s %s\n", id, tc.ConnectionState().ServerName)
	})
	return ln.Addr().String()
}

func roundTripTLS(t *testing.T, c *ctls.Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, "hello"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

var _ net.Conn = (*ctls.Conn)(nil)

package lb

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nstls "netsim/tls"
)

// recordCounter counts the TLS records read through it (their 5-byte
// headers, RFC 8446 §5.1), from a raw connection.
type recordCounter struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
	skip    int
	records int
}

func (r *recordCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := p[:n]
	for len(b) > 0 {
		if r.skip > 0 {
			k := min(r.skip, len(b))
			b, r.skip = b[k:], r.skip-k
			continue
		}
		need := 5 - len(r.pending)
		k := min(need, len(b))
		r.pending, b = append(r.pending, b[:k]...), b[k:]
		if len(r.pending) == 5 {
			r.records++
			r.skip = int(binary.BigEndian.Uint16(r.pending[3:5]))
			r.pending = r.pending[:0]
		}
	}
	return n, err
}

func (r *recordCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

// TestHTTPSAnswerOneRecord: over TLS (HTTP/1.1 on the fast engine) an
// answer that fits in a record leaves in one (with Go's dynamic record
// sizing a 12 KiB body came in two), and the backend hears
// X-Forwarded-Proto: https.
func TestHTTPSAnswerOneRecord(t *testing.T) {
	pki, err := nstls.EnsureDemoPKI(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 12<<10)
	var proto atomic.Value
	addr := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h, ok := readHead(br)
			if !ok {
				return
			}
			for _, f := range h {
				if v, ok := strings.CutPrefix(f, "X-Forwarded-Proto: "); ok {
					proto.Store(v)
				}
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 12288\r\n\r\n"+body)
		}
	})
	srv, _ := engineLB(t, EngineFast, addr, func(c *Config) {
		c.Frontends[0].TLS = &FrontendTLS{Certs: []nstls.Pair{{Cert: pki.Cert, Key: pki.Key}}}
	})
	caPEM, err := os.ReadFile(pki.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	raw, err := net.Dial("tcp", srv.Addr("http").String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &recordCounter{Conn: raw}
	tc := tls.Client(rc, &tls.Config{RootCAs: roots, ServerName: "www.example.test", NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	for i := range 2 { // the first answer also finds the session tickets in flight
		_, _ = io.WriteString(tc, "GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
		before := rc.count()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(got) != len(body) {
			t.Fatalf("answer %d: %d body bytes, want %d", i, len(got), len(body))
		}
		if p, _ := proto.Load().(string); p != "https" {
			t.Errorf("backend saw X-Forwarded-Proto %q, want https", p)
		}
		if i == 1 {
			if n := rc.count() - before; n != 1 {
				t.Errorf("a 12 KiB answer came in %d TLS records, want 1", n)
			}
		}
	}
}

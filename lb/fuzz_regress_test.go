package lb

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHalfClosedClientGetsNoFakeAnswer (found by FuzzEngineRequest): a
// client that sends a request and half-closes its side is taken by
// net/http for gone, and lbd gives up on the backend; the nethttp engine
// then let net/http answer "200 OK" with an empty body, a success that
// never happened. Now it closes without an answer. The fast engine
// answers such a client for real.
func TestHalfClosedClientGetsNoFakeAnswer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		select { // answers only after lbd gave up on it
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "late")
	}))
	defer backend.Close()
	h := newHarness(t, 0, func(c *Config) {
		c.Frontends[0].Engine = EngineNetHTTP
		one := 1
		c.Pools[0].Backends = []BackendConfig{{ID: "b1", Address: backend.Listener.Addr().String(), Weight: &one}}
	})
	c, err := net.Dial("tcp", h.srv.Addr("http").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("no close within the deadline; read %q", out)
	}
	if len(out) > 0 && !bytes.Contains(out, []byte("X-Lb-Backend")) && !bytes.Contains(out, []byte("X-Lb-Error")) {
		t.Fatalf("a client that half-closed got an answer from nobody: %q", out)
	}
}

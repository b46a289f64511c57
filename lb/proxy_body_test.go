package lb

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawExchange writes raw on a new connection to addr (closing the write
// side when halfClose), and reads one response.
func rawExchange(t *testing.T, addr, raw string, halfClose bool) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := tryRawExchange(t, addr, raw, halfClose)
	if err != nil {
		t.Fatalf("%q: no response: %v", raw, err)
	}
	return resp, body
}

// tryRawExchange is rawExchange that returns a missing response as an
// error.
func tryRawExchange(t *testing.T, addr, raw string, halfClose bool) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body, nil
}

// TestBadClientBodyIsNotABackendFailure: a client's own broken body
// framing is a 400 to that client with the error envelope, never a
// failure of the backend it was being sent to (15 such POSTs used to
// eject two healthy backends by passive health).
func TestBadClientBodyIsNotABackendFailure(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.Pools[0].Health.Type = "none"
		c.Pools[0].Passive.ConsecutiveFailures = 2
	})
	addr := h.srv.Addr("http").String()
	const head = "POST /echo HTTP/1.1\r\nHost: example.test\r\n"
	const chunked = head + "Transfer-Encoding: chunked\r\n\r\n"
	// A body cut short ends in a read error on the connection, which
	// net/http also takes as the client going away (it cancels the
	// request's context): the client gets a 400 or, when lbd saw the
	// cancellation first, nothing. Either way no backend is blamed.
	cases := []struct {
		name      string
		raw       string
		halfClose bool
	}{
		{"chunk size zz", chunked + "zz\r\nabc\r\n0\r\n\r\n", false},
		{"chunk size -1", chunked + "-1\r\nabc\r\n0\r\n\r\n", false},
		{"chunk size overflow", chunked + "fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", false},
		{"bare LF", chunked + "3\nabc\n0\n\n", false},
		{"shorter than Content-Length", head + "Content-Length: 100\r\n\r\nabc", true},
	}
	for i := range 15 {
		tc := cases[i%len(cases)]
		resp, body, err := tryRawExchange(t, addr, tc.raw, tc.halfClose)
		if err != nil && tc.halfClose {
			continue
		}
		if err != nil {
			t.Fatalf("%s: no response: %v", tc.name, err)
		}
		var env struct {
			Error struct {
				Code   string `json:"code"`
				Status int    `json:"status"`
			} `json:"error"`
		}
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &env) != nil || env.Error.Status != http.StatusBadRequest || env.Error.Code == "" {
			t.Errorf("%s: status %d, body %s; want 400 with an error envelope", tc.name, resp.StatusCode, body)
		}
	}
	for _, id := range []string{"b1", "b2", "b3"} {
		if v := h.backendState(id); v.State != "up" || v.Failures != 0 {
			t.Errorf("%s: state %s with %d failures after bad client bodies; want up with 0", id, v.State, v.Failures)
		}
	}
}

package testutil

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Call sends one request to url over the network and returns the status
// and the body; token, when set, goes as "Authorization: Bearer <token>",
// and an empty body sends none. A request that cannot be sent fails the test.
func Call(t testing.TB, method, url, body, token string) (int, string) {
	t.Helper()
	resp, b := Fetch(t, method, url, body, token)
	return resp.StatusCode, b
}

// Fetch is Call that returns the whole response (its body already read
// and closed) with the body's text.
func Fetch(t testing.TB, method, url, body, token string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, b := Send(t, nil, req)
	return resp, string(b)
}

// NewRequest is a request without a body and with the header fields hdr
// (name, value, name, value, …); a "Host" field sets the request's Host.
func NewRequest(t testing.TB, method, url string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if http.CanonicalHeaderKey(hdr[i]) == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// Send does req with c (nil: http.DefaultClient) and returns the response
// with its whole body, read and closed. A request that fails fails the test.
func Send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// Contains fails the test for each of wants that got lacks; what names got
// in the message ("--help", "the log").
func Contains(t testing.TB, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, got)
		}
	}
}

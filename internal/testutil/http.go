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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
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

package testutil

import (
	"encoding/json"
	"testing"
)

// Envelope checks that an admin API answer follows REST.md whatever the
// input was: JSON; no 5xx (client input is never a server fault); an
// error with a code and a message for 4xx; data for 2xx. It returns the
// data (nil for an error). what names the request in failures.
func Envelope(t testing.TB, what string, status int, body []byte) json.RawMessage {
	t.Helper()
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code, Message string
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s: %d, body not JSON (%v): %s", what, status, err, body)
	}
	switch {
	case status >= 500:
		t.Fatalf("%s: %d %s, want no server error for client input", what, status, body)
	case status >= 400 && (env.Error == nil || env.Error.Code == "" || env.Error.Message == ""):
		t.Fatalf("%s: %d without an error envelope: %s", what, status, body)
	case status < 300 && env.Data == nil:
		t.Fatalf("%s: %d without data: %s", what, status, body)
	}
	return env.Data
}

package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("X-Total-Count", "7")
			WriteData(w, r, http.StatusOK, map[string]string{
				"auth": r.Header.Get("Authorization"), "type": r.Header.Get("Content-Type"), "body": string(b)})
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		case "/refused":
			WriteError(w, r, Errorf(http.StatusUnprocessableEntity, "invalid_state", "state: %q is not a state", "sleepy"))
		default:
			http.Error(w, "no such page", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	var env struct {
		Data map[string]string `json:"data"`
	}
	hdr, err := Call(ctx, srv.Client(), http.MethodPost, srv.URL+"/echo", "tok", map[string]int{"n": 1}, &env)
	if err != nil || hdr.Get("X-Total-Count") != "7" {
		t.Fatalf("POST /echo: %v, header %v", err, hdr)
	}
	if d := env.Data; d["auth"] != "Bearer tok" || d["type"] != "application/json" || d["body"] != `{"n":1}` {
		t.Fatalf("the server saw %v, want the token, JSON and the body", d)
	}
	if _, err := Call(ctx, srv.Client(), http.MethodGet, srv.URL+"/echo", "", nil, nil); err != nil {
		t.Fatalf("GET without out: %v", err)
	}
	if _, err := Call(ctx, srv.Client(), http.MethodDelete, srv.URL+"/none", "", nil, &env); err != nil {
		t.Fatalf("204 with out: %v", err)
	}

	cases := []struct {
		path, want string
		status     int
		code       string
	}{
		{"/refused", `PATCH ` + srv.URL + `/refused: 422 invalid_state: state: "sleepy" is not a state`, 422, "invalid_state"},
		{"/gone", `PATCH ` + srv.URL + `/gone: 404 no such page`, 404, ""},
	}
	for _, c := range cases {
		_, err := Call(ctx, srv.Client(), http.MethodPatch, srv.URL+c.path, "", map[string]string{"state": "sleepy"}, &env)
		var ce *CallError
		if !errors.As(err, &ce) || ce.Status != c.status || ce.Code != c.code || err.Error() != c.want {
			t.Errorf("PATCH %s: %v, want a CallError %q", c.path, err, c.want)
		}
	}
	srv.Close()
	if _, err := Call(ctx, http.DefaultClient, http.MethodGet, srv.URL+"/echo", "", nil, nil); err == nil ||
		!strings.HasPrefix(err.Error(), "GET "+srv.URL+"/echo: ") {
		t.Errorf("a server gone: %v, want an error naming the call", err)
	}
}

package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"netsim/internal/testutil"
)

func TestEnvelopeETagAndMethods(t *testing.T) {
	h := Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) { WriteData(w, r, 200, map[string]int{"n": 1}) },
	})
	w := testutil.Do(h, "GET", "/x", "", nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	var env struct{ Data map[string]int }
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Data["n"] != 1 {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if w := testutil.Do(h, "GET", "/x", "", map[string]string{"If-None-Match": etag}); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %q", w.Code, w.Body)
	}
	if w := testutil.Do(h, "HEAD", "/x", "", nil); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	w = testutil.Do(h, "DELETE", "/x", "", nil)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, OPTIONS" || !strings.Contains(w.Body.String(), `"method_not_allowed"`) {
		t.Errorf("DELETE: %d allow %q body %s", w.Code, w.Header().Get("Allow"), w.Body)
	}
	if w := testutil.Do(h, "OPTIONS", "/x", "", nil); w.Code != 204 || w.Header().Get("Allow") == "" {
		t.Errorf("OPTIONS: %d", w.Code)
	}
}

func TestPaging(t *testing.T) {
	items := make([]int, 45)
	for i := range items {
		items[i] = i
	}
	h := List(func() []int { return items })
	cases := []struct {
		target         string
		code, first, n int
		next, prev     bool
	}{
		{"/i", 200, 0, 20, true, false},
		{"/i?limit=20&offset=20", 200, 20, 20, true, true},
		{"/i?limit=20&offset=40", 200, 40, 5, false, true},
		{"/i?offset=100", 200, 0, 0, false, true},
		{"/i?limit=0", 400, 0, 0, false, false},
		{"/i?limit=101", 400, 0, 0, false, false},
		{"/i?offset=-1", 400, 0, 0, false, false},
	}
	for _, c := range cases {
		w := testutil.Do(h, "GET", c.target, "", nil)
		if w.Code != c.code {
			t.Errorf("%s: %d, want %d", c.target, w.Code, c.code)
			continue
		}
		if c.code != 200 {
			continue
		}
		var env struct{ Data []int }
		_ = json.Unmarshal(w.Body.Bytes(), &env)
		if len(env.Data) != c.n || (c.n > 0 && env.Data[0] != c.first) {
			t.Errorf("%s: data %v", c.target, env.Data)
		}
		link := w.Header().Get("Link")
		if strings.Contains(link, `rel="next"`) != c.next || strings.Contains(link, `rel="prev"`) != c.prev {
			t.Errorf("%s: Link %q", c.target, link)
		}
		if w.Header().Get("X-Total-Count") != "45" {
			t.Errorf("%s: X-Total-Count %q", c.target, w.Header().Get("X-Total-Count"))
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		State  string `json:"state"`
		Weight int    `json:"weight"`
	}
	cases := []struct {
		in, code, field string
	}{
		{`{"state":"up","weight":2}`, "", ""},
		{``, "empty_body", ""},
		{`{"state":`, "bad_json", ""},
		{`{"weight":"x"}`, "bad_field", "weight"},
		{`{"colour":"red"}`, "unknown_field", "colour"},
		{`{"state":"up"} {}`, "bad_json", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("PATCH", "/", strings.NewReader(c.in))
		var b body
		p := DecodeJSON(r, &b)
		switch {
		case c.code == "" && p != nil:
			t.Errorf("%q: %v", c.in, p)
		case c.code != "" && (p == nil || p.Body.Code != c.code):
			t.Errorf("%q: got %v, want code %s", c.in, p, c.code)
		case c.field != "" && p.Body.Context["field"] != c.field:
			t.Errorf("%q: context %v, want field %s", c.in, p.Body.Context, c.field)
		}
	}
}

func TestCheckBind(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9153", "", true}, {"[::1]:9153", "", true}, {"localhost:1", "", true},
		{"0.0.0.0:9153", "", false}, {"0.0.0.0:9153", "t", true}, {"192.0.2.1:80", "", false}, {"nonsense", "", false},
	} {
		if err := CheckBind(c.addr, c.token); (err == nil) != c.ok {
			t.Errorf("%s token %q: %v", c.addr, c.token, err)
		}
	}
}

func TestDecode(t *testing.T) {
	var v struct{ A int }
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a": 1, "b": 2}`))
	w := httptest.NewRecorder()
	if Decode(w, r, &v) || w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"b"`) {
		t.Fatalf("unknown field: %d %s", w.Code, w.Body)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(`{"a": 1}`))
	w = httptest.NewRecorder()
	if !Decode(w, r, &v) || v.A != 1 || w.Body.Len() != 0 {
		t.Fatalf("good body: %+v, wrote %q", v, w.Body)
	}
}

type testPatch struct {
	A *int `json:"a"`
}

func TestDecodePatch(t *testing.T) {
	cases := []struct {
		name, body string
		ok         bool
		code       int
		want       string
	}{
		{"sets a", `{"a": 1}`, true, http.StatusOK, ""},
		{"empty", `{}`, false, http.StatusBadRequest, `nothing to change: send \"a\"`},
		{"unknown field", `{"b": 1}`, false, http.StatusBadRequest, `"b"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p testPatch
			r := httptest.NewRequest("PATCH", "/", strings.NewReader(c.body))
			w := httptest.NewRecorder()
			if ok := DecodePatch(w, r, &p, `"a"`); ok != c.ok || w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Fatalf("DecodePatch(%s) = %v, %d %s; want %v, %d containing %s", c.body, ok, w.Code, w.Body, c.ok, c.code, c.want)
			}
		})
	}
}

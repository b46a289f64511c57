package webd

import (
	"encoding/json"
	"strings"
	"testing"

	"netsim/internal/testutil"
)

// TestStaticFiles: the demo's files carry a strong ETag, Last-Modified
// and a public max-age, the same on every server; validators give 304.
func TestStaticFiles(t *testing.T) {
	a, b := New(Options{ID: "s1", Version: "v1"}), New(Options{ID: "s2", Version: "v2"})
	rec := testutil.Do(a, "GET", "/static/app.css", "", nil)
	etag, lm := rec.Header().Get("ETag"), rec.Header().Get("Last-Modified")
	if rec.Code != 200 || !strings.HasPrefix(etag, `"`) || lm == "" || rec.Header().Get("Cache-Control") != "public, max-age=60" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || rec.Body.Len() < 1024 {
		t.Fatalf("app.css: %d %v (%d bytes)", rec.Code, rec.Header(), rec.Body.Len())
	}
	if other := testutil.Do(b, "GET", "/static/app.css", "", nil); other.Header().Get("ETag") != etag || other.Body.String() != rec.Body.String() {
		t.Fatal("two servers answer /static/app.css differently")
	}
	cases := []struct {
		name, path string
		hdr        map[string]string
		want       int
	}{
		{"If-None-Match", "/static/app.css", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match other", "/static/app.css", map[string]string{"If-None-Match": `"x"`}, 200},
		{"If-Modified-Since", "/static/app.css", map[string]string{"If-Modified-Since": lm}, 304},
		{"index", "/static/", nil, 200},
		{"missing", "/static/nope.css", nil, 404},
		{"range", "/static/app.css", map[string]string{"Range": "bytes=0-9"}, 206},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if rec := testutil.Do(a, "GET", c.path, "", c.hdr); rec.Code != c.want {
				t.Fatalf("GET %s %v: %d, want %d", c.path, c.hdr, rec.Code, c.want)
			}
		})
	}
	if rec := testutil.Do(a, "POST", "/static/app.css", "", nil); rec.Code != 405 {
		t.Fatalf("POST static: %d", rec.Code)
	}
}

// TestAPI: the demo API answers JSON in the envelope, large enough to be
// worth compressing.
func TestAPI(t *testing.T) {
	s := New(Options{ID: "a1", Version: "v1"})
	rec := testutil.Do(s, "GET", "/api/orders", "", nil)
	var env struct {
		Data     []Order `json:"data"`
		ServedBy string  `json:"served_by"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != 200 || len(env.Data) != 40 || env.ServedBy != "a1" ||
		rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Body.Len() < 4096 {
		t.Fatalf("/api/orders: %d %v %d bytes, %d orders", rec.Code, err, rec.Body.Len(), len(env.Data))
	}
	if rec := testutil.Do(s, "GET", "/api/orders/o-1007", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"id": "o-1007"`) {
		t.Fatalf("one order: %d %s", rec.Code, rec.Body)
	}
	for path, want := range map[string]int{"/api/orders/o-1": 404, "/api/nope": 404, "/api/": 200} {
		if rec := testutil.Do(s, "GET", path, "", nil); rec.Code != want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %s, want %d JSON", path, rec.Code, rec.Header().Get("Content-Type"), want)
		}
	}
	if rec := testutil.Do(s, "DELETE", "/api/orders", "", nil); rec.Code != 405 || !strings.Contains(rec.Body.String(), "method_not_allowed") {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
}

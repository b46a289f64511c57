package httpcache

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkLookupHit is the cost of finding a fresh entry and writing its
// fields as an engine of its own does.
func BenchmarkLookupHit(b *testing.B) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=3600", "Content-Type": "text/css"}, body: "body{}"}
	h := newHarness(b, Config{}, o)
	h.do("GET", "/static/app.css", nil)
	req := Request{Method: http.MethodGet, Host: "www.example.test", Target: "/static/app.css", Header: http.Header{}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		res := h.c.Lookup(context.Background(), req)
		if res.Kind != Cached {
			b.Fatal("not a hit")
		}
		buf = res.Hit.AppendFields(buf[:0])
	}
}

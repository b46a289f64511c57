package webd

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// The demo application's content, for lbd's routes to send somewhere:
// static files under /static/ (with ETag and Last-Modified, so a cache can
// revalidate them) and a small JSON API under /api/ (large enough to be
// worth compressing). Every server serves the same bytes, so the answers
// of two backends of a pool are interchangeable.

//go:embed static/*.html static/*.css static/*.js static/*.svg
var staticFS embed.FS

// staticModTime is the Last-Modified of the demo's files: the day they
// were last changed (embedded files have no time of their own).
var staticModTime = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// StaticMaxAge is the Cache-Control max-age of the static files.
const StaticMaxAge = 60 * time.Second

// staticFile is one embedded file and its strong validator.
type staticFile struct {
	name string
	data []byte
	etag string
}

func loadStatic() map[string]*staticFile {
	files := map[string]*staticFile{}
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(p, "static/")
		files[name] = &staticFile{name: name, data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return files
}

// serveStatic answers GET/HEAD /static/<file> (and /static/ with
// index.html); http.ServeContent does the conditional requests (304) and
// ranges.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, _ *knobs) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static")
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = "index.html"
	}
	f := s.static[name]
	if f == nil {
		http.Error(w, "no file "+strconv.Quote(name)+" under /static/", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "static files are read-only: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(StaticMaxAge/time.Second)))
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, staticModTime, bytes.NewReader(f.data))
}

// Order is one order of the demo API.
type Order struct {
	ID       string      `json:"id"`
	Customer string      `json:"customer"`
	Items    []OrderItem `json:"items"`
	Total    float64     `json:"total"`
	Currency string      `json:"currency"`
	Status   string      `json:"status"`
	Created  time.Time   `json:"created"`
}

// OrderItem is a line of an order.
type OrderItem struct {
	Product  string  `json:"product"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

// demoOrders are the API's orders: the same on every server and every run.
func demoOrders() []Order {
	customers := []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Edsger Dijkstra", "Frances Allen", "Donald Knuth", "Radia Perlman"}
	products := []struct {
		name  string
		price float64
	}{{"keyboard", 49.90}, {"mouse", 19.50}, {"monitor", 229.00}, {"cable", 7.25}, {"router", 89.00}, {"switch", 129.00}, {"headset", 59.99}}
	statuses := []string{"pending", "paid", "packed", "shipped", "delivered", "returned"}
	var out []Order
	for i := range 40 {
		o := Order{ID: "o-" + strconv.Itoa(1001+i), Customer: customers[i%len(customers)], Currency: "EUR",
			Status: statuses[(i*7)%len(statuses)], Created: staticModTime.Add(-time.Duration(40-i) * 97 * time.Minute)}
		for j := range 1 + i%3 {
			p := products[(i+2*j)%len(products)]
			it := OrderItem{Product: p.name, Quantity: 1 + (i+j)%4, Price: p.price}
			o.Items = append(o.Items, it)
			o.Total += float64(it.Quantity) * it.Price
		}
		o.Total = float64(int(o.Total*100+0.5)) / 100
		out = append(out, o)
	}
	return out
}

// serveAPI answers the demo JSON API:
//
//	GET /api/orders        every order
//	GET /api/orders/{id}   one
//	GET /api/              the API's index
//
// in the envelope of the admin APIs ({"data": …}, errors as
// {"error": …}); each answer says which server made it.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, k *knobs) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	var status int
	var body any
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		status, body = http.StatusMethodNotAllowed, apiError("method_not_allowed", "the demo API is read-only: GET or HEAD")
	case p == "/api":
		status, body = http.StatusOK, map[string]any{"data": map[string]any{"resources": []string{"/api/orders", "/api/orders/{id}"}}}
	case p == "/api/orders":
		status, body = http.StatusOK, map[string]any{"data": s.orders, "served_by": s.id, "version": k.version}
	case strings.HasPrefix(p, "/api/orders/"):
		id := strings.TrimPrefix(p, "/api/orders/")
		status, body = http.StatusNotFound, apiError("order_not_found", "no order "+strconv.Quote(id)+"; orders are o-1001 to o-1040")
		for _, o := range s.orders {
			if o.ID == id {
				status, body = http.StatusOK, map[string]any{"data": o, "served_by": s.id, "version": k.version}
			}
		}
	default:
		status, body = http.StatusNotFound, apiError("not_found", "no resource "+strconv.Quote(r.URL.Path)+"; see GET /api/")
	}
	b, _ := json.MarshalIndent(body, "", "  ")
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func apiError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

// Package api holds the conventions shared by the admin REST APIs of dnsd and
// lbd (../shared/REST.md): JSON envelopes, errors a person can act on,
// paging, ETags, method routing (routes.go) and bearer-token auth (auth.go).
package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Error is the body of a failure envelope.
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Context map[string]any `json:"context,omitempty"`
}

// Problem is an error that knows its HTTP status; handlers may return one and
// have it rendered by WriteProblem.
type Problem struct {
	Status int
	Body   Error
}

func (p *Problem) Error() string { return p.Body.Message }

// Errorf builds a Problem.
func Errorf(status int, code, format string, args ...any) *Problem {
	return &Problem{Status: status, Body: Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// With adds a context entry and returns p.
func (p *Problem) With(key string, v any) *Problem {
	if p.Body.Context == nil {
		p.Body.Context = map[string]any{}
	}
	p.Body.Context[key] = v
	return p
}

const contentType = "application/json; charset=utf-8"

func marshal(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b, _ = json.MarshalIndent(map[string]any{"error": Error{Code: "internal", Message: "encoding response: " + err.Error()}}, "", "  ")
	}
	return append(b, '\n')
}

// WriteData writes {"data": v} with status. For GET and HEAD with status 200
// it sets an ETag and answers 304 when If-None-Match matches. HEAD gets no body.
func WriteData(w http.ResponseWriter, r *http.Request, status int, v any) {
	body := marshal(map[string]any{"data": v})
	h := w.Header()
	h.Set("Content-Type", contentType)
	if status == http.StatusOK && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		h.Set("ETag", etag)
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func etagMatch(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimSpace(part)
		p = strings.TrimPrefix(p, "W/")
		if p == "*" || p == etag {
			return true
		}
	}
	return false
}

// WriteError writes an error envelope.
func WriteError(w http.ResponseWriter, r *http.Request, p *Problem) {
	body := marshal(map[string]any{"error": p.Body})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// Fail renders err: a *Problem as itself, anything else as a 500.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		WriteError(w, r, p)
		return
	}
	WriteError(w, r, Errorf(http.StatusInternalServerError, "internal", "%v", err))
}

// NotFound is the 404 for an unknown path or resource.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, Errorf(http.StatusNotFound, "not_found", "no resource at %s; see the README for the endpoints", r.URL.Path))
}

// Methods routes by HTTP method. HEAD is served by GET; OPTIONS lists the
// allowed methods; anything else is 405 with an Allow header.
func Methods(handlers map[string]http.HandlerFunc) http.Handler {
	allowed := make([]string, 0, len(handlers)+2)
	for m := range handlers {
		allowed = append(allowed, m)
	}
	if _, ok := handlers[http.MethodGet]; ok {
		if _, ok := handlers[http.MethodHead]; !ok {
			allowed = append(allowed, http.MethodHead)
		}
	}
	allowed = append(allowed, http.MethodOptions)
	sort.Strings(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = handlers[http.MethodGet]
		}
		if ok {
			h(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		WriteError(w, r, Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	})
}

// Page is a parsed ?limit=&offset= pair.
type Page struct{ Limit, Offset int }

// Paging defaults from REST.md.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// ParsePage reads limit and offset, defaulting limit to 20 and refusing
// values outside 1..100 or a negative offset.
func ParsePage(r *http.Request) (Page, *Problem) {
	p := Page{Limit: DefaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, Errorf(http.StatusBadRequest, "bad_limit", "limit must be an integer from 1 to %d, got %q", MaxLimit, s).With("field", "limit")
		}
		p.Limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, Errorf(http.StatusBadRequest, "bad_offset", "offset must be a non-negative integer, got %q", s).With("field", "offset")
		}
		p.Offset = n
	}
	return p, nil
}

// Slice returns the bounds [lo, hi) of this page within total items.
func (p Page) Slice(total int) (lo, hi int) {
	lo = min(p.Offset, total)
	hi = min(lo+p.Limit, total)
	return lo, hi
}

// WritePage writes one page of a collection: X-Total-Count, a Link header
// with next/prev, and {"data": items}.
func WritePage[T any](w http.ResponseWriter, r *http.Request, p Page, all []T) {
	lo, hi := p.Slice(len(all))
	w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
	var links []string
	link := func(offset int, rel string) string {
		u := url.URL{Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("limit", strconv.Itoa(p.Limit))
		q.Set("offset", strconv.Itoa(offset))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	if hi < len(all) {
		links = append(links, link(hi, "next"))
	}
	if lo > 0 {
		links = append(links, link(max(0, lo-p.Limit), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	page := all[lo:hi]
	if page == nil {
		page = []T{}
	}
	WriteData(w, r, http.StatusOK, page)
}

// MaxBody caps request bodies read by DecodeJSON.
const MaxBody = 1 << 20

// Decode is DecodeJSON for a handler: on a problem it writes it and
// returns false, and the handler returns.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if prob := DecodeJSON(r, v); prob != nil {
		WriteError(w, r, prob)
		return false
	}
	return true
}

// DecodePatch is Decode for a PATCH body that must change something: p
// points to a struct of pointer fields (nil: left as it is), and a body
// that sets none is answered 400 empty_patch, which says what can be sent
// (fields, e.g. `"state" and/or "weight"`).
func DecodePatch(w http.ResponseWriter, r *http.Request, p any, fields string) bool {
	if !Decode(w, r, p) {
		return false
	}
	if reflect.ValueOf(p).Elem().IsZero() {
		WriteError(w, r, Errorf(http.StatusBadRequest, "empty_patch", "nothing to change: send %s", fields))
		return false
	}
	return true
}

// DecodeJSON reads a JSON object into v, refusing unknown fields, trailing
// data and bodies over 1 MiB, with a message that says what to fix.
func DecodeJSON(r *http.Request, v any) *Problem {
	if r.Body == nil {
		return Errorf(http.StatusBadRequest, "empty_body", "request body is empty; send a JSON object")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Errorf(http.StatusBadRequest, "bad_body", "reading body: %v", err)
	}
	if len(data) > MaxBody {
		return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "body exceeds %d bytes", MaxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Errorf(http.StatusBadRequest, "empty_body", "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ):
			return Errorf(http.StatusBadRequest, "bad_field", "field %q must be %s, got %s", typ.Field, typ.Type, typ.Value).With("field", typ.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return Errorf(http.StatusBadRequest, "unknown_field", "unknown field %q", f).With("field", f)
		default:
			return Errorf(http.StatusBadRequest, "bad_json", "%v", err)
		}
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
	}
	return nil
}

// NewToken returns a random 128-bit token in hex.
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CheckBind refuses an admin listen address off loopback when no token is
// configured.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %v", addr, err)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("admin address %q is not loopback and no token is set: set a token or bind 127.0.0.1", addr)
}

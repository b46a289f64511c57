package world

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"netsim/internal/api"
)

func call(h http.Handler, method, target, body, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, r)
	return rw
}

func authWith(token string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler { return api.Auth(token, h) }
}

func TestAdminAPI(t *testing.T) {
	var events []Event
	w := testWorld(t, "", Options{OnEvent: func(e Event) { events = append(events, e) }})
	h := w.Handler(authWith("s3cret"))

	rw := call(h, "GET", "/api/v1/world", "", "")
	var got struct{ Data View }
	if rw.Code != 200 || json.Unmarshal(rw.Body.Bytes(), &got) != nil {
		t.Fatalf("GET: %d %s", rw.Code, rw.Body)
	}
	if len(got.Data.Places) != 7 || len(got.Data.Links) != 7*8/2 || got.Data.RTTms["eu"]["as"] != 240 || got.Data.Flat {
		t.Errorf("GET world: %d places, %d links, eu→as %v ms", len(got.Data.Places), len(got.Data.Links), got.Data.RTTms["eu"]["as"])
	}
	if rw.Header().Get("ETag") == "" {
		t.Error("GET has no ETag")
	}

	// unauthenticated change: 401, nothing changes
	if rw := call(h, "PATCH", "/api/v1/world/links/eu/as", `{"latency":"800ms"}`, ""); rw.Code != 401 {
		t.Errorf("PATCH without token: %d", rw.Code)
	}
	rw = call(h, "PATCH", "/api/v1/world/links/eu/as", `{"latency":"800ms","loss_percent":10,"bandwidth":"1Mbit"}`, "s3cret")
	var link struct{ Data LinkView }
	if rw.Code != 200 || json.Unmarshal(rw.Body.Bytes(), &link) != nil {
		t.Fatalf("PATCH: %d %s", rw.Code, rw.Body)
	}
	if l := link.Data; l.LatencyMs != 800 || l.LossPercent != 10 || l.BandwidthBps != 1e6 || !l.Overridden || l.Jitter != "5ms" {
		t.Errorf("PATCH result: %+v", l)
	}
	rw = call(h, "GET", "/api/v1/world/links/as/eu", "", "")
	if rw.Code != 200 || !strings.Contains(rw.Body.String(), `"latency": "800ms"`) {
		t.Errorf("GET link as/eu after PATCH: %d %s", rw.Code, rw.Body)
	}
	if rw := call(h, "DELETE", "/api/v1/world/links/eu/as", "", "s3cret"); rw.Code != 204 {
		t.Errorf("DELETE: %d %s", rw.Code, rw.Body)
	}
	if l, _ := w.Link("eu", "as"); l.Latency.Milliseconds() != 120 {
		t.Errorf("after DELETE: %v", l.Latency)
	}
	_ = call(h, "PATCH", "/api/v1/world/links/eu/na", `{"jitter":"0"}`, "s3cret")
	if rw := call(h, "DELETE", "/api/v1/world/links", "", "s3cret"); rw.Code != 204 || w.Overridden("eu", "na") {
		t.Errorf("DELETE all: %d, override left: %v", rw.Code, w.Overridden("eu", "na"))
	}
	if kinds := len(events); kinds != 4 || events[0].Kind != LinkChanged || events[1].Kind != LinkReset || events[3].Kind != LinksReset {
		t.Errorf("events: %+v", events)
	}
	rw = call(h, "GET", "/api/v1/world/links?limit=5&offset=5", "", "")
	if rw.Code != 200 || rw.Header().Get("X-Total-Count") != "28" || !strings.Contains(rw.Header().Get("Link"), `rel="next"`) {
		t.Errorf("GET links page: %d %v", rw.Code, rw.Header())
	}

	bad := []struct {
		name, method, target, body string
		status                     int
		code                       string
	}{
		{"malformed JSON", "PATCH", "/api/v1/world/links/eu/as", `{"latency":`, 400, "bad_json"},
		{"unknown field", "PATCH", "/api/v1/world/links/eu/as", `{"latncy":"3ms"}`, 400, "unknown_field"},
		{"bad duration", "PATCH", "/api/v1/world/links/eu/as", `{"latency":"fast"}`, 400, "bad_field"},
		{"bad bandwidth", "PATCH", "/api/v1/world/links/eu/as", `{"bandwidth":"lots"}`, 400, "bad_field"},
		{"wrong type", "PATCH", "/api/v1/world/links/eu/as", `{"loss_percent":"ten"}`, 400, "bad_field"},
		{"empty patch", "PATCH", "/api/v1/world/links/eu/as", `{}`, 400, "empty_patch"},
		{"negative latency", "PATCH", "/api/v1/world/links/eu/as", `{"latency":"-5ms"}`, 422, "impossible_value"},
		{"loss over 100", "PATCH", "/api/v1/world/links/eu/as", `{"loss_percent":150}`, 422, "impossible_value"},
		{"jitter over latency", "PATCH", "/api/v1/world/links/eu/as", `{"jitter":"1s"}`, 422, "impossible_value"},
		{"unknown place", "PATCH", "/api/v1/world/links/eu/mars", `{"latency":"1ms"}`, 404, "unknown_place"},
		{"unknown place GET", "GET", "/api/v1/world/links/mars/eu", ``, 404, "unknown_place"},
		{"wrong verb", "POST", "/api/v1/world/links/eu/as", `{}`, 405, "method_not_allowed"},
		{"no such path", "GET", "/api/v1/world/planets", ``, 404, "not_found"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rw := call(h, tc.method, tc.target, tc.body, "s3cret")
			var env struct{ Error api.Error }
			if err := json.Unmarshal(rw.Body.Bytes(), &env); err != nil || rw.Code != tc.status || env.Error.Code != tc.code || env.Error.Message == "" {
				t.Errorf("%d %s, want %d %s", rw.Code, rw.Body, tc.status, tc.code)
			}
		})
	}
	if w.Overridden("eu", "as") {
		t.Error("a refused PATCH changed the link")
	}
}

func TestAdminFlatAndReadOnly(t *testing.T) {
	flat := testWorld(t, "world: off", Options{})
	h := flat.Handler(authWith("t"))
	if rw := call(h, "GET", "/api/v1/world", "", ""); rw.Code != 200 || !strings.Contains(rw.Body.String(), `"flat": true`) {
		t.Errorf("GET flat: %d %s", rw.Code, rw.Body)
	}
	if rw := call(h, "PATCH", "/api/v1/world/links/eu/as", `{"latency":"1ms"}`, "t"); rw.Code != 409 || !strings.Contains(rw.Body.String(), "world_flat") {
		t.Errorf("PATCH flat: %d %s", rw.Code, rw.Body)
	}
	ro := testWorld(t, "", Options{}).Handler(nil)
	if rw := call(ro, "DELETE", "/api/v1/world/links", "", ""); rw.Code != 403 {
		t.Errorf("read-only DELETE: %d", rw.Code)
	}
}

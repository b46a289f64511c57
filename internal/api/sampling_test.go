package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPatchSampling(t *testing.T) {
	yes, half, zero, over := true, 0.5, 0.0, 1.5
	cases := []struct {
		name        string
		newEnabled  *bool
		newRate     *float64
		ok          bool
		wantEnabled bool
		wantRate    float64
	}{
		{"nothing", nil, nil, true, false, 1},
		{"both", &yes, &half, true, true, 0.5},
		{"zero refused", &yes, &zero, false, false, 1},
		{"above one refused", nil, &over, false, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enabled, rate := false, 1.0
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPatch, "/api/v1/querylog", nil)
			ok := PatchSampling(w, r, "sample", "1 logs every query", &enabled, c.newEnabled, &rate, c.newRate)
			if ok != c.ok || enabled != c.wantEnabled || rate != c.wantRate {
				t.Fatalf("ok %v enabled %v rate %v, want %v %v %v", ok, enabled, rate, c.ok, c.wantEnabled, c.wantRate)
			}
			if !ok {
				body := w.Body.String()
				if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `"invalid_sample"`) ||
					!strings.Contains(body, "is outside (0, 1]; 1 logs every query") || !strings.Contains(body, `"field": "sample"`) {
					t.Fatalf("refusal: %d %s", w.Code, body)
				}
			}
		})
	}
}

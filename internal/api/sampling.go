package api

import "net/http"

// PatchSampling applies a PATCH of a log's switch and sampling fraction:
// each of newEnabled and newRate that is not nil replaces *enabled or
// *rate. A rate outside (0, 1] is answered 422 "invalid_<field>" naming
// field (the rate's JSON name) and hint (what 1 and a smaller value do),
// and PatchSampling returns false.
func PatchSampling(w http.ResponseWriter, r *http.Request, field, hint string, enabled, newEnabled *bool, rate, newRate *float64) bool {
	if newRate != nil && !(*newRate > 0 && *newRate <= 1) {
		WriteError(w, r, Errorf(http.StatusUnprocessableEntity, "invalid_"+field,
			"%s: %v is outside (0, 1]; %s", field, *newRate, hint).With("field", field))
		return false
	}
	if newEnabled != nil {
		*enabled = *newEnabled
	}
	if newRate != nil {
		*rate = *newRate
	}
	return true
}

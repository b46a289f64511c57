package compress

import (
	"slices"
	"testing"
)

// FuzzNegotiate: any Accept-Encoding gives a coding offered or
// identity, and its normal form is a fixed point.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "gzip", "br;q=0.5, gzip", "*;q=0", "identity;q=0, gzip", "x-gzip", ",, ,gzip,", "br;q=1.000", "br;q=0.0001"} {
		f.Add(s)
	}
	offered := []string{Brotli, Zstd, Gzip}
	f.Fuzz(func(t *testing.T, ae string) {
		if got := Negotiate(ae, offered); got != Identity && !slices.Contains(offered, got) {
			t.Fatalf("Negotiate(%q) = %q, not offered", ae, got)
		}
		n := NormalizeAcceptEncoding(ae)
		if again := NormalizeAcceptEncoding(n); again != n {
			t.Fatalf("NormalizeAcceptEncoding(%q) = %q, and of that %q: not a fixed point", ae, n, again)
		}
	})
}

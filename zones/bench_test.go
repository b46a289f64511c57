package zones

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRecords: the whole zone in canonical order, as each AXFR and
// the records listing read it, for a zone of 10,000 names.
func BenchmarkRecords(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("$TTL 300\n@ SOA ns1 admin 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "h%d.s%d A 192.0.2.%d\n", i, i%50, i%250)
	}
	z, err := Parse(strings.NewReader(sb.String()), "big.test.", "big.test.zone", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(z.Records()); n < 10000 {
			b.Fatal(n)
		}
	}
}

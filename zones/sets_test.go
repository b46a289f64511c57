package zones

import (
	"testing"
	"time"
)

func TestSerialMethods(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	unix := uint32(now.Unix())
	for _, c := range []struct {
		method SerialMethod
		old    uint32
		want   uint32
	}{
		{SerialIncrement, 7, 8},
		{SerialIncrement, 0xFFFFFFFF, 0}, // RFC 1982 wrap
		{SerialUnixtime, 7, unix},
		{SerialUnixtime, unix + 5, unix + 6},     // never backwards
		{SerialUnixtime, 2026113000, 2026113001}, // the demo's date serials are ahead of Unix time
		{SerialDate, 7, 2026113000},
		{SerialDate, 2026113005, 2026113006},
	} {
		if got := c.method.Next(c.old, now); got != c.want {
			t.Errorf("%s after %d: %d, want %d", c.method, c.old, got, c.want)
		}
	}
	for in, want := range map[string]SerialMethod{"": SerialDate, "Increment": SerialIncrement, " unixtime ": SerialUnixtime} {
		if m, err := ParseSerialMethod(in); err != nil || m != want {
			t.Errorf("ParseSerialMethod(%q) = %q %v, want %q", in, m, err, want)
		}
	}
	if _, err := ParseSerialMethod("weekly"); err == nil {
		t.Error("weekly accepted")
	}
}

package events

import "testing"

func TestAppendStringFields(t *testing.T) {
	cases := []struct {
		name string
		kv   []string
		want string
	}{
		{"none", nil, `{`},
		{"pairs", []string{"a", "x", "b", `q"`}, `{"a":"x","b":"q\""`},
		{"empty value left out", []string{"a", "", "b", "y"}, `{"b":"y"`},
		{"odd key ignored", []string{"a", "x", "b"}, `{"a":"x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(AppendStringFields([]byte{'{'}, c.kv...)); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	buf := make([]byte, 0, 64)
	a, b := "www.example.test.", "A"
	if n := testing.AllocsPerRun(100, func() { buf = AppendStringFields(buf[:0], "name", a, "qtype", b) }); n != 0 {
		t.Errorf("AppendStringFields allocates %v times, want 0", n)
	}
}

package cfgerr

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

func TestErrorMessage(t *testing.T) {
	n := 3
	var nilInt *int
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{New("a.b", "x", "must be y"), `a.b: "x": must be y`},
		{New("a.b", "", "is required"), `a.b: "": is required`},
		{New("port", 70000, "must be from %d to %d", 1, 65535), `port: 70000: must be from 1 to 65535`},
		{New("ttl", 3*time.Second, "too short"), `ttl: 3s: too short`},
		{New("weight", &n, "too big"), `weight: 3: too big`},
		{New("weight", nilInt, "is required"), `weight: null: is required`},
		{New("servers", nil, "at least one listener is needed"), `servers: at least one listener is needed`},
		{New("rate", 0.5, "100%"), `rate: 0.5: 100%`},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestList(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("empty list is an error")
	}
	l.Add("a", 1, "one")
	l.Append("b", errors.Join(New("c", "x", "two"), New("d", "y", "three")))
	l.Append("e", errors.New("plain"))
	l.Append("f", nil)
	err := l.Err()
	want := "a: 1: one\nc: \"x\": two\nd: \"y\": three\ne: plain"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	var e *Error
	if !errors.As(fmt.Errorf("wrapped: %w", err), &e) || e.Key != "a" {
		t.Fatalf("errors.As found %+v", e)
	}
	if got := len(All(fmt.Errorf("x: %w", err))); got != 4 {
		t.Fatalf("All found %d errors, want 4", got)
	}
}

func TestPrefix(t *testing.T) {
	if Prefix("x.", nil) != nil {
		t.Fatal("Prefix(nil) is not nil")
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{New("port", 0, "bad"), "resolver.port: 0: bad"},
		{New("[2]", "a", "bad"), `resolver[2]: "a": bad`},
		{errors.New("plain"), "resolver: plain"},
		{List{New("a", 1, "x"), New("b", 2, "y")}, "resolver.a: 1: x\nresolver.b: 2: y"},
	} {
		if got := Prefix("resolver.", tt.err).Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	type inner struct {
		Timeout time.Duration `mapstructure:"timeout"`
		Count   int           `mapstructure:"count"`
		Size    uint          `mapstructure:"size"`
		On      bool          `mapstructure:"on"`
		List    []string      `mapstructure:"list"`
	}
	type cfg struct {
		In inner `mapstructure:"in"`
	}
	decode := func(in map[string]any) (cfg, error) {
		var c cfg
		d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
			Result: &c, DecodeHook: DecodeHook(), WeaklyTypedInput: true, ErrorUnused: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c, Decode(d.Decode(in))
	}
	c, err := decode(map[string]any{"in": map[string]any{"timeout": "2s", "count": "3", "size": "4", "on": "true", "list": "a,b"}})
	if err != nil || c.In.Timeout != 2*time.Second || c.In.Count != 3 || len(c.In.List) != 2 {
		t.Fatalf("decode = %+v, %v", c, err)
	}
	for _, tt := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"in": map[string]any{"timeout": "5x"}}, `in.timeout: "5x": not a duration such as 500ms, 2s or 1m`},
		{map[string]any{"in": map[string]any{"timeout": 5}}, `in.timeout: 5: a duration needs a unit, such as 5s, 500ms or 1m`},
		{map[string]any{"in": map[string]any{"timeout": 1.5}}, `in.timeout: 1.5: a duration needs a unit`},
		{map[string]any{"in": map[string]any{"count": "many"}}, `in.count: "many": not a whole number`},
		{map[string]any{"in": map[string]any{"size": "-1"}}, `in.size: "-1": not a whole number from 0`},
		{map[string]any{"in": map[string]any{"on": "maybe"}}, `in.on: "maybe": not true or false`},
		{map[string]any{"in": map[string]any{"cnt": 1, "x": 2}}, "in.cnt: unknown key\nin.x: unknown key"},
		{map[string]any{"nope": 1}, "nope: unknown key"},
		{map[string]any{"in": map[string]any{"count": []any{1, 2}}}, "in.count: "},
	} {
		_, err := decode(tt.in)
		if err == nil || len(tt.want) > len(err.Error()) || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("decode(%v) = %v, want %q", tt.in, err, tt.want)
		}
		if len(All(err)) == 0 {
			t.Errorf("decode(%v) = %T, want *Error values", tt.in, err)
		}
	}
	if c, err := decode(map[string]any{"in": map[string]any{"timeout": 0}}); err != nil || c.In.Timeout != 0 {
		t.Errorf("timeout: 0 = %v, %v; want 0 (no unit needed)", c.In.Timeout, err)
	}
	plain := errors.New("not from mapstructure")
	if Decode(plain) != plain {
		t.Error("Decode changed a foreign error")
	}
}

package scenario

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The admin-API stack puts back what a scenario changed, and says plainly
// which actions need netsim's control API.
func TestLBDRestoresAndRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := (&dec{}).stack(nil)
	st, err := StartStandalone(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	l := &LBD{Admin: st.Admin, Token: st.Token, Pool: st.Pool, Front: st.Front}
	if _, err := l.Backends(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.SetState(ctx, "b1", "draining"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetWeight(ctx, "b2", 7); err != nil {
		t.Fatal(err)
	}
	rate := 0.5
	if err := l.SetKnobs(ctx, "b3", Knobs{ErrorRate: &rate}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetState(ctx, "b9", "draining"); err == nil {
		t.Error("draining an unknown backend succeeded")
	}
	for _, err := range []error{l.StopBackend(ctx, "b1"), l.KillBackend(ctx, "b1"), l.StartBackend(ctx, "b1", "v2"),
		l.AddBackend(ctx, "c1", "v2", 1), l.StopRegion(ctx, "eu"), l.SetRecord(ctx, RecordChange{Name: "x", Type: "A"})} {
		if !errors.Is(err, ErrNotAvailable) {
			t.Errorf("err = %v, want ErrNotAvailable", err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	bs, err := l.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.State == "draining" || b.Weight != 1 {
			t.Errorf("%s left %s with weight %d", b.ID, b.State, b.Weight)
		}
	}
}

func TestToken(t *testing.T) {
	f := filepath.Join(t.TempDir(), "netsim.env")
	if err := os.WriteFile(f, []byte("# written by netsim\nDNSD_TOKEN=abc\nexport LBD_TOKEN=\"s3cret\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LBD_TOKEN", "")
	if got := Token(f); got != "s3cret" {
		t.Errorf("token from file = %q", got)
	}
	t.Setenv("LBD_TOKEN", "fromenv")
	if got := Token(f); got != "fromenv" {
		t.Errorf("token = %q, want the environment's", got)
	}
}

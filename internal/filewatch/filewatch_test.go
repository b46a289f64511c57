package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

func TestStampSeesChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	missing := Stat(p)
	if missing.OK() || missing.Err == "" {
		t.Fatalf("missing file stamped %+v", missing)
	}
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := Stat(p)
	if !first.OK() || first == missing {
		t.Fatalf("created file stamped %+v", first)
	}
	if Stat(p) != first {
		t.Fatal("an unchanged file got a new stamp")
	}
	// replaced by rename with the same size and time: only the identity differs
	q := filepath.Join(dir, "g")
	if err := os.WriteFile(q, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(0, first.MTime)
	if err := os.Chtimes(q, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q, p); err != nil {
		t.Fatal(err)
	}
	if s := Stat(p); s == first {
		t.Fatalf("a file replaced by rename kept its stamp %+v", s)
	}
}

func TestPollRunsEveryIntervalUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		done := make(chan struct{})
		go func() { Poll(ctx, 0, time.Second, func() { n++ }); close(done) }()
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		if n != 3 {
			t.Fatalf("%d checks in 3 intervals, want 3", n)
		}
		cancel()
		<-done
	})
}

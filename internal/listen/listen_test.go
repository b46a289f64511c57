package listen

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestAndServe(t *testing.T) {
	var bound net.Addr
	errDone := errors.New("served")
	err := AndServe(context.Background(), "127.0.0.1:0", func(a net.Addr) { bound = a },
		func(_ context.Context, ln net.Listener) error {
			defer ln.Close()
			if ln.Addr().String() != bound.String() {
				t.Errorf("serve got %v, ready got %v", ln.Addr(), bound)
			}
			return errDone
		})
	if !errors.Is(err, errDone) {
		t.Fatalf("AndServe = %v, want the serve function's error", err)
	}
	if bound == nil {
		t.Fatal("ready was not called")
	}
	if err := AndServe(context.Background(), "127.0.0.1:notaport", nil, nil); err == nil {
		t.Fatal("AndServe on a bad address: nil error")
	}
}

func TestStart(t *testing.T) {
	errDone := errors.New("stopped")
	var got net.Addr
	bound, stop, err := Start("127.0.0.1:0", func(ctx context.Context, ln net.Listener) error {
		got = ln.Addr()
		<-ctx.Done()
		ln.Close()
		return errDone
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", bound.String())
	if err != nil {
		t.Fatalf("dial the bound address %v: %v", bound, err)
	}
	c.Close()
	if err := stop(); !errors.Is(err, errDone) || got.String() != bound.String() {
		t.Fatalf("stop = %v (serve saw %v, Start said %v), want serve's error and one address", err, got, bound)
	}
	if err := stop(); !errors.Is(err, errDone) {
		t.Fatalf("second stop = %v, want the first one's result", err)
	}
	if _, _, err := Start("127.0.0.1:notaport", nil); err == nil {
		t.Fatal("Start on a bad address: nil error")
	}
}

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

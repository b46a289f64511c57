package events

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// ReadAll is a benchmark's subscriber that reads everything: an HTTP
// client on the SSE handler, as netsim's page is. It returns once the
// stream is subscribed; the function it returns ends the stream.
func ReadAll(tb testing.TB, b *Bus) (stop func()) {
	srv := httptest.NewServer(b.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	for deadline := time.Now().Add(time.Minute); !b.Active(); {
		if time.Now().After(deadline) {
			tb.Fatal("the stream never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		<-done
		resp.Body.Close()
		srv.Close()
	}
}

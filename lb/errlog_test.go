package lb

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"netsim/internal/testutil"
)

// TestHandlerPanicIsLogged: a panic in a handler of a frontend or of the
// admin listener yields an Error line with its message, even with the log
// level at warn (issue 9, defect 9).
func TestHandlerPanicIsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s, err := New(testConfig("127.0.0.1:1"), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom in handler") })
	for name, hs := range map[string]*http.Server{
		"frontend": s.httpServer(s.frontends[0], s.frontends[0].cfg.Load()),
		"admin":    s.adminServer(),
	} {
		t.Run(name, func(t *testing.T) {
			hs.Handler = boom
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = hs.Serve(ln) }()
			defer func() { hs.Close(); <-done }()
			before := logs.Len()
			c := &http.Client{Transport: &http.Transport{Proxy: nil}}
			if resp, err := c.Get("http://" + ln.Addr().String() + "/"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// the server logs before it closes the connection the client saw fail
			testutil.WaitFor(t, "the panic logged", 10*time.Second, func() bool { return logs.Len() > before })
			e := logs.All()[before]
			if e.Level != zapcore.ErrorLevel || !strings.Contains(e.ContextMap()["error"].(string), "boom in handler") {
				t.Fatalf("logged %v %q %v", e.Level, e.Message, e.ContextMap())
			}
		})
	}
}

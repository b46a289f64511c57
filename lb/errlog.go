package lb

import (
	"log"
	"strings"

	"go.uber.org/zap"
)

// serverErrorLog is the ErrorLog of lbd's http.Servers and reverse
// proxies. What net/http reports there (a handler's panic with its stack,
// accept errors, a response it had to mend) is logged at Error, so no level
// filter hides it; only a TLS handshake a client broke off is Debug (the
// TLS metrics count those by reason).
func serverErrorLog(l *zap.Logger) *log.Logger {
	return log.New(errorWriter{l}, "", 0)
}

type errorWriter struct{ log *zap.Logger }

func (w errorWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	lvl := zap.ErrorLevel
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		lvl = zap.DebugLevel
	}
	if ce := w.log.Check(lvl, "http server error"); ce != nil {
		ce.Write(zap.String("error", msg))
	}
	return len(p), nil
}

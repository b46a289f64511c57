package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
)

// The causes a failed request is put down to.
const (
	CauseRefused    = "refused"     // nothing listened at the address (connect refused)
	CauseReset      = "reset"       // the connection was cut (reset or closed mid-answer)
	CauseTimeout    = "timeout"     // no answer within the load's timeout
	CauseDNS        = "dns"         // the name did not resolve
	CauseBackend5xx = "backend_5xx" // the backend itself answered 5xx
	CauseCancelled  = "cancelled"   // the run was interrupted
	CauseOther      = "other"
)

// lbdBackend finds the backend an lbd error message names: "backend b1(127.0.0.1:9001) failed".
var lbdBackend = regexp.MustCompile(`backend ([A-Za-z0-9_.-]+)\(`)

// classify sets rec's Cause, Code and Error from how the request ended.
func classify(rec *Record, resp *http.Response, body []byte, err error) {
	if err != nil {
		rec.Error = err.Error()
		var de *dnsError
		var ne net.Error
		switch {
		case errors.As(err, &de):
			rec.Cause = CauseDNS
		case errors.Is(err, syscall.ECONNREFUSED):
			rec.Cause = CauseRefused
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			rec.Cause = CauseReset
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			rec.Cause = CauseTimeout
		case errors.Is(err, context.Canceled):
			rec.Cause = CauseCancelled
		default:
			rec.Cause = CauseOther
		}
		return
	}
	if resp.StatusCode < 400 {
		return
	}
	code := resp.Header.Get("X-LB-Error")
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
		code = env.Error.Code
		rec.Error = env.Error.Message
		if m := lbdBackend.FindStringSubmatch(env.Error.Message); m != nil && rec.Backend == "" {
			rec.Backend = m[1]
		}
	}
	switch {
	case code != "":
		rec.Cause, rec.Code = "lbd_"+strconv.Itoa(resp.StatusCode), code
	case resp.StatusCode >= 500:
		rec.Cause = CauseBackend5xx
		if rec.Error == "" {
			rec.Error = firstLine(body)
		}
	default:
		rec.Cause = "status_" + strconv.Itoa(resp.StatusCode)
		rec.Error = firstLine(body)
	}
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' || i >= 200 {
			return string(b[:i])
		}
	}
	return string(b)
}

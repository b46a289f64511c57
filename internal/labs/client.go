package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// httpError is an admin API's refusal: the call, the status and the
// API's own message.
type httpError struct {
	Call    string
	Status  int
	Message string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Call, e.Status, e.Message)
}

// call makes one admin API call. body, when not nil, is sent as JSON; out,
// when not nil, receives the envelope's data. A status of 300 or more is
// an *httpError.
func (e *Env) call(ctx context.Context, method, url, token string, body, out any) error {
	_, err := e.callTotal(ctx, method, url, token, body, out)
	return err
}

// callTotal is call that also returns X-Total-Count (-1 when absent).
func (e *Env) callTotal(ctx context.Context, method, url, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w (is netsim running? start it with `make run`)", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		var env struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := string(bytes.TrimSpace(data))
		if json.Unmarshal(data, &env) == nil && env.Error.Message != "" {
			msg = env.Error.Message
		}
		return 0, &httpError{Call: method + " " + url, Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		env := struct {
			Data any `json:"data"`
		}{Data: out}
		if err := json.Unmarshal(data, &env); err != nil {
			return 0, fmt.Errorf("%s %s: answer is not the {\"data\": …} envelope: %w", method, url, err)
		}
	}
	total := -1
	if _, err := fmt.Sscan(resp.Header.Get("X-Total-Count"), &total); err != nil {
		total = -1
	}
	return total, nil
}

// waitFor polls cond every 200 ms until it holds, ctx ends or e.Wait
// passes; the error names what was awaited and cond's last word.
func (e *Env) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, e.Wait)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, why := cond(ctx)
		if ok {
			return nil
		}
		if why != "" {
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for %s; last: %s", e.Wait, what, last)
		case <-tick.C:
		}
	}
}

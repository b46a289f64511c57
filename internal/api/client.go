package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// CallError is an API's refusal of a call: the call ("PATCH http://…"),
// the status, and the API's error code and message (the answer's text
// when it is not an error envelope).
type CallError struct {
	Call    string
	Status  int
	Code    string
	Message string
}

func (e *CallError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %d %s: %s", e.Call, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %d %s", e.Call, e.Status, e.Message)
}

// maxAnswer bounds what Call reads of an answer.
const maxAnswer = 8 << 20

// Call makes one call to an HTTP API of this project (an admin API,
// netsim's control API, webd's /admin/config) with client: body, when not
// nil, goes as JSON, and token, when set, as the bearer token. A status of
// 300 or more is a *CallError; otherwise out, when not nil, receives the
// answer's JSON (unless the status is 204). It returns the answer's
// header. Every error names the method and the URL.
func Call(ctx context.Context, client *http.Client, method, url, token string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the body: %w", method, url, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.Header, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		ce := &CallError{Call: method + " " + url, Status: resp.StatusCode, Message: string(bytes.TrimSpace(data))}
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error.Message != "" {
			ce.Code, ce.Message = env.Error.Code, env.Error.Message
		}
		return resp.Header, ce
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, url, err)
		}
	}
	return resp.Header, nil
}

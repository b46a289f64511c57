package labs

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"time"

	"netsim/internal/api"
)

// call makes one admin API call (api.Call): body, when not nil, is sent
// as JSON; out, when not nil, receives the envelope's data. A status of
// 300 or more is an *api.CallError.
func (e *Env) call(ctx context.Context, method, url, token string, body, out any) error {
	_, err := e.callTotal(ctx, method, url, token, body, out)
	return err
}

// callTotal is call that also returns X-Total-Count (-1 when absent).
func (e *Env) callTotal(ctx context.Context, method, url, token string, body, out any) (int, error) {
	var env any
	if out != nil {
		env = &struct {
			Data any `json:"data"`
		}{Data: out}
	}
	hdr, err := api.Call(ctx, e.Client, method, url, token, body, env)
	if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
		return 0, fmt.Errorf("%w (is netsim running? start it with `make run`)", err)
	}
	if err != nil {
		return 0, err
	}
	total := -1
	if _, err := fmt.Sscan(hdr.Get("X-Total-Count"), &total); err != nil {
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

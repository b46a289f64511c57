package labs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

type partStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	State   string `json:"state"`
}

func (e *Env) partURL(name string) string {
	return "http://" + e.Control + "/api/v1/parts/" + url.PathEscape(name)
}

func (e *Env) part(ctx context.Context, name string) (partStatus, error) {
	var st partStatus
	err := e.call(ctx, http.MethodGet, e.partURL(name), e.ControlTok, nil, &st)
	return st, err
}

// putPart sets a part's state through the control API; a part already in
// that state is left alone.
func (e *Env) putPart(ctx context.Context, name, state string) error {
	st, err := e.part(ctx, name)
	if err != nil {
		return err
	}
	if st.State == state {
		return nil
	}
	return e.call(ctx, http.MethodPatch, e.partURL(name), e.ControlTok, map[string]string{"state": state}, nil)
}

// setPart stops or kills a running part and records how to start it
// again; backend: every lbd must see it up after fix, else it is a region.
func (e *Env) setPart(ctx context.Context, b *Broken, name, state string, backend bool) error {
	st, err := e.part(ctx, name)
	if err != nil {
		return err
	}
	if st.State != "running" {
		return fmt.Errorf("part %s is %s; this lab starts from it running (netsim fix, or PATCH it to running)", name, st.State)
	}
	if err := e.putPart(ctx, name, state); err != nil {
		return err
	}
	b.Undo = append(b.Undo, Step{Part: &Part{Name: name, State: "running"}})
	if backend {
		b.Backends = append(b.Backends, name)
	} else {
		b.Regions = append(b.Regions, name)
	}
	fmt.Fprintf(e.Out, "  part %s (%s): running -> %s\n", name, st.Address, state)
	return nil
}

// knobs reads a web server's knobs.
func (e *Env) knobs(ctx context.Context, id string) (map[string]any, error) {
	addr, ok := e.Webd[id]
	if !ok {
		return nil, fmt.Errorf("no web server %q; there are %v", id, keys(e.Webd))
	}
	var k map[string]any
	err := e.call(ctx, http.MethodGet, "http://"+addr+"/admin/config", "", nil, &k)
	return k, err
}

func (e *Env) patchKnobs(ctx context.Context, id string, patch any) error {
	addr, ok := e.Webd[id]
	if !ok {
		return fmt.Errorf("no web server %q; there are %v", id, keys(e.Webd))
	}
	return e.call(ctx, http.MethodPatch, "http://"+addr+"/admin/config", "", patch, nil)
}

// setKnobs changes a web server's knobs and records their values before;
// health: every lbd must see it up after fix.
func (e *Env) setKnobs(ctx context.Context, b *Broken, id string, patch map[string]any, health bool) error {
	was, err := e.knobs(ctx, id)
	if err != nil {
		return err
	}
	back := map[string]any{}
	for k := range patch {
		v, ok := was[k]
		if !ok {
			return fmt.Errorf("web server %s has no knob %q (an older webd?)", id, k)
		}
		back[k] = v
	}
	raw, err := json.Marshal(back)
	if err != nil {
		return err
	}
	if err := e.patchKnobs(ctx, id, patch); err != nil {
		return err
	}
	b.Undo = append(b.Undo, Step{Knobs: &Knobs{Backend: id, Patch: raw}})
	if health {
		b.Backends = append(b.Backends, id)
	}
	to, _ := json.Marshal(patch)
	fmt.Fprintf(e.Out, "  web server %s knobs: %s -> %s\n", id, raw, to)
	return nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

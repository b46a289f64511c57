package labs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"
)

// pool is the lbd pool the sample web servers are in.
const pool = "web"

// Break makes the fault name and records it in the state file. A fault
// already made is refused; a fault that fails half way is undone.
func Break(ctx context.Context, e *Env, name string) error {
	e.defaults()
	f, err := Lookup(name)
	if err != nil {
		return err
	}
	st, err := loadState(e.StateFile)
	if err != nil {
		return err
	}
	for _, b := range st.Breaks {
		if b.Name == name {
			return fmt.Errorf("%s is broken already (since %s); `netsim fix` undoes it", name, b.At.Format(time.TimeOnly))
		}
	}
	fmt.Fprintf(e.Out, "breaking %s: %s\n", name, f.Teaches)
	b, err := e.make(ctx, f)
	if err != nil {
		return err
	}
	st.Breaks = append(st.Breaks, b)
	if err := st.save(e.StateFile); err != nil {
		return fmt.Errorf("%s is broken but not recorded (%w): undo it by hand", name, err)
	}
	fmt.Fprintf(e.Out, "broken; recorded in %s. Try:\n%s\n", e.StateFile, indent(f.Symptom))
	return nil
}

// make runs f's Break; when it fails half way, what it changed is undone,
// zone files included.
func (e *Env) make(ctx context.Context, f Fault) (*Broken, error) {
	b := &Broken{Name: f.Name, At: time.Now().UTC(), Flush: f.Flush}
	err := f.Break(ctx, e, b)
	if err == nil {
		return b, nil
	}
	ctx = context.WithoutCancel(ctx)
	uerr := e.undo(ctx, b)
	if uerr == nil {
		uerr = e.restoreZoneFiles(ctx, []*Broken{b})
	}
	if uerr != nil {
		return nil, fmt.Errorf("%s: %w; undoing what was done failed too: %v", f.Name, err, uerr)
	}
	return nil, fmt.Errorf("%s: %w (what was changed is undone)", f.Name, err)
}

// Fix undoes every break in the state file, newest first, puts back the
// zone files they rewrote, waits for the stack to be whole again, flushes
// the resolver's cache where a fault left answers in it, and removes the
// state file. On an error the breaks not yet undone stay recorded, so
// running it again carries on.
func Fix(ctx context.Context, e *Env) error {
	e.defaults()
	st, err := loadState(e.StateFile)
	if err != nil {
		return err
	}
	if len(st.Breaks) == 0 {
		fmt.Fprintln(e.Out, "nothing is broken (no "+e.StateFile+")")
		return nil
	}
	all := slices.Clone(st.Breaks)
	for i := len(st.Breaks) - 1; i >= 0; i-- {
		b := st.Breaks[i]
		fmt.Fprintf(e.Out, "fixing %s\n", b.Name)
		if err := e.undo(ctx, b); err != nil {
			st.Breaks = st.Breaks[:i+1]
			if serr := st.save(e.StateFile); serr != nil {
				err = errors.Join(err, serr)
			}
			return fmt.Errorf("fixing %s: %w (run `netsim fix` again once that is solved)", b.Name, err)
		}
	}
	if err := e.restoreZoneFiles(ctx, all); err != nil {
		return err
	}
	if err := e.settle(ctx, all); err != nil {
		return err
	}
	if slices.ContainsFunc(all, func(b *Broken) bool { return b.Flush }) {
		if err := e.flush(ctx, ""); err != nil {
			return err
		}
		fmt.Fprintln(e.Out, "  resolver cache flushed (the faults had left answers in it)")
	}
	st.Breaks = nil
	if err := st.save(e.StateFile); err != nil {
		return err
	}
	fmt.Fprintln(e.Out, "fixed; "+e.StateFile+" removed")
	return nil
}

// undo applies b's undo steps, last first. Every step is idempotent.
func (e *Env) undo(ctx context.Context, b *Broken) error {
	for i := len(b.Undo) - 1; i >= 0; i-- {
		s := b.Undo[i]
		var err error
		switch {
		case s.RRset != nil:
			err = e.putRRset(ctx, *s.RRset)
			fmt.Fprintf(e.Out, "  %s %s %s back to %s\n", s.RRset.Zone, s.RRset.Name, s.RRset.Type, describe(*s.RRset))
		case s.Part != nil:
			err = e.putPart(ctx, s.Part.Name, s.Part.State)
			fmt.Fprintf(e.Out, "  part %s %s\n", s.Part.Name, s.Part.State)
		case s.Knobs != nil:
			err = e.patchKnobs(ctx, s.Knobs.Backend, s.Knobs.Patch)
			var c bytes.Buffer
			_ = json.Compact(&c, s.Knobs.Patch)
			fmt.Fprintf(e.Out, "  web server %s knobs back to %s\n", s.Knobs.Backend, c.Bytes())
		case s.File != nil:
			err = writeAtomic(s.File.Path, s.File.Content, s.File.Mode)
			fmt.Fprintf(e.Out, "  %s put back\n", s.File.Path)
		case s.Signer != nil:
			err = e.patchSignerClock(ctx, s.Signer.Zone, s.Signer.ClockOffset)
			fmt.Fprintf(e.Out, "  %s signer clock back to %s\n", s.Signer.Zone, s.Signer.ClockOffset)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// restoreZoneFiles writes back, byte for byte, each zone file as it was
// before the oldest break that changed it, once the records served are
// those of that file again (else someone changed the zone since: the file
// dnsd wrote stays), and has dnsd re-read them.
func (e *Env) restoreZoneFiles(ctx context.Context, breaks []*Broken) error {
	var restored []ZoneFile
	seen := map[string]bool{}
	for _, b := range breaks { // oldest first: the first copy of a zone is the original
		for _, zf := range b.ZoneFiles {
			if seen[zf.Zone] {
				continue
			}
			seen[zf.Zone] = true
			if len(zf.Content) == 0 {
				fmt.Fprintf(e.Out, "  zone %s is not served from a file here: its records are back, there is no file to restore\n", zf.Zone)
				continue
			}
			if e.Reload == nil {
				fmt.Fprintf(e.Out, "  zone %s: records are back; %s keeps dnsd's rewrite (serial %d+), as nothing here can make dnsd re-read it\n", zf.Zone, zf.Path, zf.Serial)
				continue
			}
			now, err := e.fingerprint(ctx, zf.Zone)
			if err != nil {
				return err
			}
			if !slices.Equal(now, zf.Records) {
				fmt.Fprintf(e.Out, "  zone %s changed since the break beyond what fix undid: %s keeps dnsd's rewrite\n", zf.Zone, zf.Path)
				continue
			}
			if cur, err := os.ReadFile(zf.Path); err == nil && bytes.Equal(cur, zf.Content) {
				continue
			}
			if err := writeAtomic(zf.Path, zf.Content, zf.Mode); err != nil {
				return err
			}
			restored = append(restored, zf)
			fmt.Fprintf(e.Out, "  %s put back as it was (serial %d)\n", zf.Path, zf.Serial)
		}
	}
	if len(restored) == 0 {
		return nil
	}
	if err := e.Reload(); err != nil {
		return fmt.Errorf("zone files put back, but dnsd was not told to re-read them: %w", err)
	}
	for _, zf := range restored {
		if err := e.waitFor(ctx, "dnsd to serve "+zf.Zone+" from "+zf.Path, func(ctx context.Context) (bool, string) {
			z, err := e.zone(ctx, zf.Zone)
			if err != nil {
				return false, err.Error()
			}
			return z.Serial == zf.Serial, fmt.Sprintf("serial %d, want %d", z.Serial, zf.Serial)
		}); err != nil {
			return err
		}
	}
	fmt.Fprintln(e.Out, "  dnsd re-read the zone files")
	return nil
}

type backendView struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
}

// settle waits until every lbd sees the backends up, the regions serve
// and GeoDNS counts them again, and the HTTPS frontend serves the
// original certificate.
func (e *Env) settle(ctx context.Context, breaks []*Broken) error {
	for _, b := range breaks {
		for _, id := range b.Backends {
			for name, admin := range e.LBAdmins {
				if err := e.waitFor(ctx, name+" to see backend "+id+" healthy", func(ctx context.Context) (bool, string) {
					var v backendView
					if err := e.call(ctx, http.MethodGet, "http://"+admin+"/api/v1/pools/"+pool+"/backends/"+url.PathEscape(id), "", nil, &v); err != nil {
						return false, err.Error()
					}
					return v.Healthy, "state " + v.State
				}); err != nil {
					return err
				}
			}
			fmt.Fprintf(e.Out, "  every lbd sees %s healthy\n", id)
		}
		for _, part := range b.Regions {
			if err := e.waitRegion(ctx, part); err != nil {
				return err
			}
		}
		if b.Cert != "" {
			if err := e.waitFor(ctx, e.HTTPS+" to serve the original certificate", func(ctx context.Context) (bool, string) {
				c, err := e.servedCert(ctx)
				if err != nil {
					return false, err.Error()
				}
				return fingerprint(c) == b.Cert, "serves " + fingerprint(c)[:16]
			}); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "  %s serves the original certificate again\n", e.HTTPS)
		}
	}
	return nil
}

type geoPool struct {
	Members []struct {
		Address   string `json:"address"`
		Available bool   `json:"available"`
	} `json:"members"`
}

// waitRegion waits for a regional lbd part to be counted available by
// every GeoDNS pool it is a member of.
func (e *Env) waitRegion(ctx context.Context, part string) error {
	if err := e.waitGeo(ctx, part, true); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "  %s serves and GeoDNS counts it again\n", part)
	return nil
}

// waitGeo waits until every GeoDNS pool that has the regional lbd part's
// address as a member counts it available (up) or not.
func (e *Env) waitGeo(ctx context.Context, part string, up bool) error {
	st, err := e.part(ctx, part)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(st.Address)
	if err != nil {
		host = st.Address
	}
	return e.waitFor(ctx, fmt.Sprintf("GeoDNS to count %s (%s) available=%v", part, host, up), func(ctx context.Context) (bool, string) {
		var pools []geoPool
		if err := e.call(ctx, http.MethodGet, e.dnsURL("/api/v1/geo/pools?limit=100"), "", nil, &pools); err != nil {
			return false, err.Error()
		}
		for _, p := range pools {
			for _, m := range p.Members {
				if m.Address == host && m.Available != up {
					return false, fmt.Sprintf("%s available=%v", host, m.Available)
				}
			}
		}
		return true, ""
	})
}

func indent(s string) string {
	var b bytes.Buffer
	for _, l := range bytes.Split([]byte(s), []byte("\n")) {
		b.WriteString("  ")
		b.Write(l)
		b.WriteByte('\n')
	}
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}

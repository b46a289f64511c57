// Package sim supervises the parts of netsim's simulated internet (sample web
// servers, regional load balancers, …) as processes: each can be stopped
// gracefully, killed as a crashed process would die (listener closed, every
// open connection reset), and started again, with a new version where the
// part has one. Scenarios, break/fix labs and the live page act on the world
// only through this supervisor's admin API, as an operator's script would act
// on real machines.
package sim

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// State is where a part is in its life.
type State string

// The states of a part.
const (
	Running State = "running"
	Stopped State = "stopped" // stopped gracefully (drained)
	Killed  State = "killed"  // died abruptly: connections were reset
	Exited  State = "exited"  // ended by itself, with an error
)

// Instance is one run of a part, returned by a Starter once the part serves.
type Instance interface {
	// Stop ends the run gracefully and returns when it has ended.
	Stop()
	// Kill ends the run at once, as a crash would: the listener closes and
	// every open connection is reset. It returns when the address is free.
	Kill()
	// Done is closed when the run has ended, however it ended.
	Done() <-chan struct{}
	// Err is why the run ended by itself (nil after Stop or Kill).
	Err() error
}

// Starter starts one run of a part with the given version ("" keeps the
// part's current one) and returns once it serves.
type Starter func(ctx context.Context, version string) (Instance, error)

// Spec describes a part to the supervisor.
type Spec struct {
	Name    string // unique, e.g. "b1", "lbd-eu"
	Kind    string // "webd", "lbd", …
	Addr    string // where it serves, for people
	Version string // initial version, if the kind has versions
	Start   Starter
}

// Status is a part as the API shows it.
type Status struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Address string    `json:"address"`
	State   State     `json:"state"`
	Version string    `json:"version,omitempty"`
	Since   time.Time `json:"since"`
	Error   string    `json:"error,omitempty"`
}

// part is a Spec and its current run.
type part struct {
	spec Spec

	mu      sync.Mutex // serialises start/stop/kill of this part
	state   State
	version string
	since   time.Time
	err     error
	inst    Instance
	gen     int // which run inst is; a watcher of an older run changes nothing
}

func (p *part) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{Name: p.spec.Name, Kind: p.spec.Kind, Address: p.spec.Addr, State: p.state, Version: p.version, Since: p.since}
	if p.err != nil {
		s.Error = p.err.Error()
	}
	return s
}

// ErrState is returned for a change that the part's state does not allow
// (stopping a part that is not running, starting one that runs).
type ErrState struct {
	Part  string
	State State
	Want  string
}

func (e *ErrState) Error() string {
	return fmt.Sprintf("part %s is %s; %s", e.Part, e.State, e.Want)
}

var errExitedClean = errorString("the server returned without being asked to stop")

type errorString string

func (e errorString) Error() string { return string(e) }

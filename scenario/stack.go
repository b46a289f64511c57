package scenario

import (
	"context"
	"errors"
	"time"
)

// Stack is what a scenario acts on: the running netsim (through the admin
// APIs an operator's script would use) or an in-process stack of its own.
// Backend-level actions name a backend by its lbd id.
type Stack interface {
	// Frontend is the URL the load goes to when the scenario names no target.
	Frontend() string
	// Backends is every backend of the scenario's pool, as lbd sees it.
	Backends(ctx context.Context) ([]BackendStatus, error)
	SetState(ctx context.Context, id, state string) error // up, draining, maintenance
	SetWeight(ctx context.Context, id string, weight int) error
	AddBackend(ctx context.Context, id, version string, weight int) error
	RemoveBackend(ctx context.Context, id string) error
	StopBackend(ctx context.Context, id string) error // graceful: in-flight requests finish
	KillBackend(ctx context.Context, id string) error // a crash: listener closed, open connections reset
	StartBackend(ctx context.Context, id, version string) error
	SetKnobs(ctx context.Context, id string, k Knobs) error
	StopRegion(ctx context.Context, region string) error
	StartRegion(ctx context.Context, region string) error
	SetRecord(ctx context.Context, r RecordChange) error
	FlushCache(ctx context.Context, name string) error
	// Close puts back what the scenario changed, as far as it can, and
	// releases the stack.
	Close(ctx context.Context) error
}

// BackendStatus is one backend at one moment.
type BackendStatus struct {
	ID       string
	Address  string
	State    string // lbd's: up, down, draining, maintenance
	Healthy  bool
	Ejected  bool // lbd took it out after failures in a row (passive ejection) and keeps it out for a cooldown
	InFlight int64
	Weight   int
	Version  string // what the process reports; "" when it does not answer
	Running  bool   // the process answers
	Starting bool   // the process is booting and does not listen yet
}

// Lane is the state a timeline draws: up, starting, draining, down,
// maintenance, or ejected (running, but lbd keeps it out after failures).
func (b BackendStatus) Lane() string {
	switch {
	case !b.Running && b.Starting:
		return "starting"
	case !b.Running:
		return "down"
	case b.State == "maintenance":
		return "maintenance"
	case !b.Healthy && b.Ejected:
		return "ejected"
	case !b.Healthy || b.State == "down":
		return "down"
	case b.State == "draining":
		return "draining"
	}
	return "up"
}

// Knobs are webd's failure knobs; nil fields are left as they are.
type Knobs struct {
	Healthy   *bool
	Latency   *time.Duration
	Jitter    *time.Duration
	ErrorRate *float64
}

// ErrNotAvailable is returned by actions the stack cannot do yet.
var ErrNotAvailable = errors.New("not available yet")

// Package scenario runs classroom scenarios against a netsim stack: a load
// generator sends requests at a fixed rate while timed or awaited steps
// drain, stop, restart or re-weight backends, every request is recorded,
// expectations are checked, and the run is drawn as a timeline.
package scenario

import (
	"fmt"
	"time"
)

// Scenario is one parsed scenario file.
type Scenario struct {
	Name        string
	Description string
	File        string // where it came from, for messages
	Load        Load
	Stack       StackSpec
	Setup       []Step  // run before the load starts (records to create, knobs to set)
	Watch       []Watch // names whose cached answer the timeline draws
	Steps       []Step
	Expect      []Expect
	Variants    map[string]Variant
}

// Variant replaces parts of a scenario (`--no-drain`, `--bad`).
type Variant struct {
	Description string
	Load        *Load // nil: the scenario's own
	Steps       []Step
	Expect      []Expect
	HasSteps    bool
	HasExpect   bool
}

// Load is the built-in traffic.
type Load struct {
	Rate        float64       // requests per second, open loop
	Duration    time.Duration // how long the load runs
	Concurrency int           // cap on requests in flight; 0: none
	Clients     int           // distinct clients (connections, cookie jars)
	Regions     []string      // eu, na, as: client source addresses 127.0.10.x, 20.x, 30.x
	KeepAlive   bool
	Cookies     bool
	Method      string
	Target      string        // URL; its host is resolved through Resolver when set
	Resolver    string        // DNS resolver host:port; empty: the system's
	Timeout     time.Duration // per request
}

// Watch is a name the run asks the resolver for every quarter second, from
// a client in Region ("" = 127.0.0.1): the answer and its remaining TTL
// become a lane of the timeline.
type Watch struct {
	Name   string
	Region string
}

// StackSpec is the in-process stack of --standalone.
type StackSpec struct {
	Backends       []BackendSpec
	Policy         string
	Sticky         string
	HealthInterval time.Duration
	Rise, Fall     int
	SlowStart      time.Duration
	Latency        time.Duration
	Jitter         time.Duration
	Boot           time.Duration // a restarted backend listens after this long
}

// BackendSpec is one webd of the standalone stack.
type BackendSpec struct {
	ID      string
	Version string
	Weight  int
}

// Action names what a step does.
type Action string

// The step actions. A step file names exactly one of them.
const (
	ActDrain       Action = "drain"
	ActUndrain     Action = "undrain"
	ActMaintenance Action = "maintenance"
	ActWaitIdle    Action = "wait_idle" // in-flight 0 on lbd
	ActStop        Action = "stop"
	ActKill        Action = "kill"
	ActStart       Action = "start"
	ActWaitHealthy Action = "wait_healthy"
	ActWeight      Action = "weight"
	ActAdd         Action = "add"
	ActRemove      Action = "remove"
	ActFailHealth  Action = "fail_health"
	ActSlow        Action = "slow"
	ActErrors      Action = "errors"
	ActStopRegion  Action = "stop_region"
	ActStartRegion Action = "start_region"
	ActDNS         Action = "dns"
	ActFlushCache  Action = "flush_cache"
	ActSleep       Action = "sleep"
	ActRollout     Action = "rollout"
	ActAnalyze     Action = "analyze"
	ActResolver    Action = "resolver" // the resolver's knobs: coalesce, prefetch
	ActHerd        Action = "herd"     // many clients ask for a name the moment it expires
)

var actions = []Action{ActDrain, ActUndrain, ActMaintenance, ActWaitIdle, ActStop, ActKill, ActStart,
	ActWaitHealthy, ActWeight, ActAdd, ActRemove, ActFailHealth, ActSlow, ActErrors, ActStopRegion,
	ActStartRegion, ActDNS, ActFlushCache, ActSleep, ActRollout, ActAnalyze, ActResolver, ActHerd}

// Step is one timed (At set) or awaited action.
type Step struct {
	Line    int
	Label   string
	At      time.Duration
	HasAt   bool
	Timeout time.Duration // for waits; default 30s
	Action  Action

	Backend  string
	Version  string
	Weight   int
	Weights  map[string]int // weight: {b1: 19, c1: 1}
	On       bool           // fail_health
	Latency  time.Duration  // slow
	Jitter   time.Duration  // slow
	Rate     float64        // errors
	Region   string
	Duration time.Duration // sleep
	Record   RecordChange  // dns
	Rollout  *Rollout
	Analyze  *Analyze
	Coalesce *bool // resolver
	Prefetch *bool // resolver
	Clients  int   // herd
}

// RecordChange is a DNS record to write.
type RecordChange struct {
	Zone, Name, Type, Value string
	TTL                     int
}

// Rollout replaces the version of backends in batches, as a Kubernetes
// rolling update does: MaxUnavailable backends out at once, MaxSurge extra
// new-version backends added while it runs.
type Rollout struct {
	Version        string
	Backends       []string
	MaxUnavailable int
	MaxSurge       int
	Drain          bool // drain and wait for in-flight 0 before stopping; false: kill at once
	// Broken: the new version fails its health check (a bad build); the
	// rollout sees it never get ready, puts that backend back on its old
	// version and stops.
	Broken bool
	// ReadyTimeout is how long a restarted backend has to get ready.
	ReadyTimeout time.Duration
	// MinReady is how long a batch serves before the next one starts
	// (Kubernetes' minReadySeconds): the deploy is paced, and seen.
	MinReady time.Duration
}

// Analyze watches a backend's error rate for a while, like an Argo
// Rollouts analysis; past the threshold it runs Rollback and skips the
// rest of the steps.
type Analyze struct {
	Backend    string
	MaxErrors  float64 // error rate, 0..1
	MinSamples int
	For        time.Duration
	Rollback   []Step
}

// Expect is one assertion checked after the run.
type Expect struct {
	Line    int
	Kind    string // failed, share, converge, upstream, failover, dns
	Op      string // ==, >, <, >=, <= (failed)
	Count   int
	Version string
	Backend string
	From    Bound
	To      Bound
	Share   float64 // wanted share 0..1
	Within  float64 // tolerance 0..1 (share) ; Limit for converge
	Limit   time.Duration
	Step    string // upstream: the herd step's label
	Region  string // failover
	Name    string // dns
	Old     string // dns: the answer before the change
	New     string // dns: the answer after it
}

// Bound is a point of the run: a time since the load started, or the
// moment a labelled step started.
type Bound struct {
	Label string
	At    time.Duration
	Set   bool
}

func (b Bound) String() string {
	switch {
	case !b.Set:
		return ""
	case b.Label != "":
		return b.Label
	default:
		return b.At.String()
	}
}

// FileError is a scenario file refused before anything ran.
type FileError struct {
	File string
	Errs []LineError
}

// LineError is one mistake and what to do about it.
type LineError struct {
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	s := fmt.Sprintf("scenario %s refused (%d problem(s)):", e.File, len(e.Errs))
	for _, le := range e.Errs {
		s += fmt.Sprintf("\n  %s:%d: %s", e.File, le.Line, le.Msg)
	}
	return s
}

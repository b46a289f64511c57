package sim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Event is one change of a part's state, for logs, the live page and
// scenario timelines.
type Event struct {
	Time    time.Time `json:"time"`
	Part    string    `json:"part"`
	Kind    string    `json:"kind"`
	State   State     `json:"state"`
	Version string    `json:"version,omitempty"`
	Cause   string    `json:"cause,omitempty"` // "api", "exit: …", "shutdown"
}

// Supervisor owns the parts and their runs.
type Supervisor struct {
	log *zap.Logger
	now func() time.Time

	mu     sync.Mutex
	parts  map[string]*part
	ctx    context.Context // parent of every run; cancelled by Close
	cancel context.CancelFunc
	subs   []func(Event)
	wg     sync.WaitGroup // exit watchers
}

// New returns an empty supervisor. log may be nil.
func New(log *zap.Logger) *Supervisor {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{log: log, now: time.Now, parts: map[string]*part{}, ctx: ctx, cancel: cancel}
}

// Add registers a part without starting it; its state is Stopped.
func (s *Supervisor) Add(spec Spec) error {
	if spec.Name == "" || spec.Start == nil {
		return fmt.Errorf("part %q: a name and a Start function are required", spec.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.parts[spec.Name]; dup {
		return fmt.Errorf("part %q is already registered", spec.Name)
	}
	s.parts[spec.Name] = &part{spec: spec, state: Stopped, version: spec.Version, since: s.now()}
	return nil
}

// Subscribe calls f for every state change from now on. f must not block.
func (s *Supervisor) Subscribe(f func(Event)) {
	s.mu.Lock()
	s.subs = append(s.subs, f)
	s.mu.Unlock()
}

func (s *Supervisor) emit(e Event) {
	s.mu.Lock()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	for _, f := range subs {
		f(e)
	}
	fields := []zap.Field{zap.String("part", e.Part), zap.String("kind", e.Kind), zap.String("state", string(e.State))}
	if e.Version != "" {
		fields = append(fields, zap.String("version", e.Version))
	}
	if e.Cause != "" {
		fields = append(fields, zap.String("cause", e.Cause))
	}
	s.log.Info("part "+string(e.State), fields...)
}

func (s *Supervisor) get(name string) (*part, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.parts[name]
	if !ok {
		return nil, &ErrUnknown{Part: name, Known: s.namesLocked()}
	}
	return p, nil
}

func (s *Supervisor) namesLocked() []string {
	return slices.Sorted(maps.Keys(s.parts))
}

// ErrUnknown names a part that is not registered, and the ones that are.
type ErrUnknown struct {
	Part  string
	Known []string
}

func (e *ErrUnknown) Error() string {
	return fmt.Sprintf("no part named %q; parts: %v", e.Part, e.Known)
}

// List returns every part's status, by name.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	ps := make([]*part, 0, len(s.parts))
	for _, n := range s.namesLocked() {
		ps = append(ps, s.parts[n])
	}
	s.mu.Unlock()
	out := make([]Status, len(ps))
	for i, p := range ps {
		out[i] = p.status()
	}
	return out
}

// Status returns one part's status.
func (s *Supervisor) Status(name string) (Status, error) {
	p, err := s.get(name)
	if err != nil {
		return Status{}, err
	}
	return p.status(), nil
}

// Start starts a part that is not running, with version ("" keeps the
// current one), and returns once it serves.
func (s *Supervisor) Start(name, version string) error {
	p, err := s.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == Running {
		return &ErrState{Part: name, State: p.state, Want: "stop or kill it first"}
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("part %s: the supervisor is closed", name)
	}
	if version == "" {
		version = p.version
	}
	inst, err := p.spec.Start(s.ctx, version)
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p.gen++
	p.inst, p.state, p.version, p.since, p.err = inst, Running, version, s.now(), nil
	gen := p.gen
	s.wg.Add(1)
	go s.watch(p, inst, gen)
	s.emit(Event{Time: p.since, Part: name, Kind: p.spec.Kind, State: Running, Version: version, Cause: "start"})
	return nil
}

// watch marks a run that ended by itself as Exited.
func (s *Supervisor) watch(p *part, inst Instance, gen int) {
	defer s.wg.Done()
	<-inst.Done()
	p.mu.Lock()
	if p.gen != gen || p.state != Running {
		p.mu.Unlock()
		return // stopped or killed through the supervisor, or restarted
	}
	p.state, p.since, p.err, p.inst = Exited, s.now(), inst.Err(), nil
	ev := Event{Time: p.since, Part: p.spec.Name, Kind: p.spec.Kind, State: Exited, Version: p.version, Cause: "exit"}
	if p.err != nil {
		ev.Cause = "exit: " + p.err.Error()
	}
	p.mu.Unlock()
	s.emit(ev)
}

// Stop ends a running part gracefully.
func (s *Supervisor) Stop(name string) error { return s.end(name, Stopped) }

// Kill ends a running part abruptly, as a crash would.
func (s *Supervisor) Kill(name string) error { return s.end(name, Killed) }

func (s *Supervisor) end(name string, to State) error {
	p, err := s.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != Running {
		return &ErrState{Part: name, State: p.state, Want: "only a running part can be stopped or killed"}
	}
	inst := p.inst
	p.gen++ // the watcher of this run must not report it as an exit
	if to == Killed {
		inst.Kill()
	} else {
		inst.Stop()
	}
	p.inst, p.state, p.since, p.err = nil, to, s.now(), nil
	s.emit(Event{Time: p.since, Part: name, Kind: p.spec.Kind, State: to, Version: p.version, Cause: "api"})
	return nil
}

// Close stops every running part gracefully and waits for the watchers.
func (s *Supervisor) Close() {
	for _, st := range s.List() {
		if st.State == Running {
			_ = s.Stop(st.Name)
		}
	}
	s.cancel()
	s.wg.Wait()
}

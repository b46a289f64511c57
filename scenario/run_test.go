package scenario

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// oneBackend is a stack of one backend that always answers; its actions
// do nothing.
type oneBackend struct{ url string }

func (s oneBackend) Frontend() string { return s.url }
func (s oneBackend) Backends(context.Context) ([]BackendStatus, error) {
	return []BackendStatus{{ID: "b1", State: "up", Healthy: true, Running: true, Version: "v1"}}, nil
}
func (oneBackend) SetState(context.Context, string, string) error        { return nil }
func (oneBackend) SetWeight(context.Context, string, int) error          { return nil }
func (oneBackend) AddBackend(context.Context, string, string, int) error { return nil }
func (oneBackend) RemoveBackend(context.Context, string) error           { return nil }
func (oneBackend) StopBackend(context.Context, string) error             { return nil }
func (oneBackend) KillBackend(context.Context, string) error             { return nil }
func (oneBackend) StartBackend(context.Context, string, string) error    { return nil }
func (oneBackend) SetKnobs(context.Context, string, Knobs) error         { return nil }
func (oneBackend) StopRegion(context.Context, string) error              { return nil }
func (oneBackend) StartRegion(context.Context, string) error             { return nil }
func (oneBackend) SetRecord(context.Context, RecordChange) error         { return nil }
func (oneBackend) FlushCache(context.Context, string) error              { return nil }
func (oneBackend) Close(context.Context) error                           { return nil }

// answerAsB1 answers as backend b1 on v1.
func answerAsB1(w http.ResponseWriter) {
	w.Header().Set("X-Backend-Id", "b1")
	w.Header().Set("X-Backend-Version", "v1")
}

// b1Server is backend b1 on v1, always answering; closed with the test.
func b1Server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { answerAsB1(w) }))
	t.Cleanup(srv.Close)
	return srv
}

func mustParse(t *testing.T, file, text string) *Scenario {
	t.Helper()
	sc, err := Parse(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// runOnB1 parses the scenario text and runs it against b1Server, with the
// rollout limits the scenario's and the live lines written to progress
// (nil: none).
func runOnB1(t *testing.T, file, text string, progress io.Writer) (*Scenario, *Result) {
	t.Helper()
	srv := b1Server(t)
	sc := mustParse(t, file, text)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, sc, oneBackend{srv.URL}, Options{MaxUnavailable: -1, MaxSurge: -1, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return sc, res
}

// TestLoadOutlastsLateSteps: a step that ends after the load's duration (a
// loaded machine runs steps late) does not end the run in error; the load
// goes on until it ends plus a tail, and a window from its end has answers.
func TestLoadOutlastsLateSteps(t *testing.T) {
	sc, res := runOnB1(t, "outrun.yaml", `name: outrun
load: {rate: 20, duration: 500ms, clients: 2}
steps:
  - at: 100ms
    label: long
    sleep: 1500ms
expect:
  - failed: {is: 0, from: "long done"}
`, nil)
	if res.StepErr != nil {
		t.Fatalf("a step that outran the load's duration: %v", res.StepErr)
	}
	done, ok := res.Marks["long done"]
	if !ok {
		t.Fatalf("no mark of the step's end: %v", res.Marks)
	}
	last := res.Records[len(res.Records)-1].At()
	if tail, _ := loadTail(sc.Load.Duration); last < done+tail-100*time.Millisecond {
		t.Errorf("the last request was meant for %v; the step ended at %v, want the load to go on %v after it", last, done, tail)
	}
	if !res.Passed() {
		t.Errorf("run failed: %+v", res.Outcomes)
	}
}

// TestInterruptNotCounted: the requests in flight when the run is
// interrupted (Ctrl-C) are ended by the run itself: they are not failures
// of the stack (they were counted as 16 "cancelled" failures and failed
// `failed: 0`).
func TestInterruptNotCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 5 { // from the sixth request on, hang and interrupt the run
			cancel()
			<-r.Context().Done()
			return
		}
		answerAsB1(w)
	}))
	defer srv.Close()
	sc := mustParse(t, "cut.yaml", `name: cut
load: {rate: 50, duration: 20s, clients: 4}
steps:
  - sleep: 20s
expect:
  - failed: 0
`)
	res, err := Run(ctx, sc, oneBackend{srv.URL}, Options{MaxUnavailable: -1, MaxSurge: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cut == 0 {
		t.Error("no request counted as cut by the interrupt")
	}
	for _, r := range res.Records {
		if r.Cause == CauseCancelled {
			t.Errorf("a request the interrupt ended is among the records: %+v", r)
		}
	}
	if len(res.Records) < 5 || res.Stats().Failed != 0 {
		t.Errorf("%d records, %d failed; want the 5 answered, none failed", len(res.Records), res.Stats().Failed)
	}
	if res.StepErr == nil {
		t.Error("an interrupted run passed")
	}
}

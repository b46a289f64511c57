package scenario

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTimelineInBrowser opens the timelines of a rolling deploy done right
// and done wrong in headless Chromium, checks lanes, dots and failure marks
// in the DOM, and saves screenshots under var/ (../var from this package).
func TestTimelineInBrowser(t *testing.T) {
	var chrome string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	if chrome == "" {
		t.Skip("no chromium on PATH (Debian: apt-get install -y chromium); the timeline browser test needs it")
	}
	out, err := filepath.Abs(filepath.Join("..", "var", "scenario-test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ variant, file string }{{"", "rolling-deploy"}, {"no-drain", "rolling-deploy-no-drain"}} {
		t.Run(c.file, func(t *testing.T) {
			res := runBuiltin(t, "rolling-deploy", c.variant, 100, 12*time.Second, nil)
			page := filepath.Join(out, c.file+".html")
			if err := os.WriteFile(page, TimelinePage(res, Timeline(res)), 0o644); err != nil {
				t.Fatal(err)
			}
			s := res.Stats()
			got := inspect(t, chrome, page, filepath.Join(out, c.file+".png"))
			if got.lanes < 3 || !strings.Contains(got.laneNames, "b1") || !strings.Contains(got.laneNames, "b3") {
				t.Errorf("lanes: %d (%s), want b1..b3", got.lanes, got.laneNames)
			}
			if got.dots != s.OK {
				t.Errorf("%d dots, want one per answer: %d", got.dots, s.OK)
			}
			if got.v2dots == 0 || got.v1dots == 0 {
				t.Errorf("dots: v1 %d, v2 %d; want both", got.v1dots, got.v2dots)
			}
			if got.failures != s.Failed {
				t.Errorf("%d failure marks, want %d", got.failures, s.Failed)
			}
			if s.Failed > 0 && !containsAny(got.failTip, "lbd_5", "refused", "reset", "timeout") {
				t.Errorf("failure tooltip %q does not give the cause", got.failTip)
			}
			if got.bands == 0 || got.steps == 0 {
				t.Errorf("%d state bands, %d step markers", got.bands, got.steps)
			}
			if got.laneFont < 20 {
				t.Errorf("lane names drawn at %vpx; too small for a projector", got.laneFont)
			}
			if c.variant == "" && !strings.Contains(got.states, "draining") {
				t.Errorf("no draining band in a drained deploy: states %s", got.states)
			}
		})
	}
}

type domFacts struct {
	lanes, dots, v1dots, v2dots, failures, bands, steps int
	laneNames, failTip, states                          string
	laneFont                                            float64
}

func inspect(t *testing.T, chrome, page, png string) domFacts {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1800, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("svg"))); err != nil {
		t.Fatalf("chromium on %s: %v", page, err)
	}
	var f domFacts
	f.lanes = eval[int](t, bctx, `document.querySelectorAll('svg g.lane').length`)
	f.laneNames = eval[string](t, bctx, `[...document.querySelectorAll('svg g.lane')].map(g => g.dataset.backend).join(' ')`)
	f.dots = eval[int](t, bctx, `document.querySelectorAll('svg .dot').length`)
	f.v1dots = eval[int](t, bctx, `document.querySelectorAll('svg .dot[data-version="v1"]').length`)
	f.v2dots = eval[int](t, bctx, `document.querySelectorAll('svg .dot[data-version="v2"]').length`)
	f.failures = eval[int](t, bctx, `document.querySelectorAll('svg g.failure').length`)
	f.failTip = eval[string](t, bctx, `(document.querySelector('svg g.failure title') || {textContent: ''}).textContent`)
	f.bands = eval[int](t, bctx, `document.querySelectorAll('svg rect.band').length`)
	f.states = eval[string](t, bctx, `[...new Set([...document.querySelectorAll('svg rect.band')].map(r => r.dataset.state))].join(' ')`)
	f.steps = eval[int](t, bctx, `document.querySelectorAll('svg g.step').length`)
	f.laneFont = eval[float64](t, bctx, `(() => { const s = document.querySelector('svg'); const k = s.getBoundingClientRect().width / s.viewBox.baseVal.width;
		return parseFloat(getComputedStyle(document.querySelector('svg g.lane text')).fontSize) * k; })()`)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", page, err)
	}
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%+v)", png, f)
	return f
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// containsAny: s names one of the failure causes.
func containsAny(s string, causes ...string) bool {
	for _, c := range causes {
		if strings.Contains(s, c) {
			return true
		}
	}
	return false
}

package logging

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestTimeHasDate covers issue 9 defect 13: console log lines carried only
// a time of day; both formats now carry an ISO 8601 date and time.
func TestTimeHasDate(t *testing.T) {
	iso := regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{4})`)
	for _, format := range []string{"console", "json"} {
		t.Run(format, func(t *testing.T) {
			cfg, err := config(format, "info")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "log")
			cfg.OutputPaths = []string{out}
			log, err := cfg.Build()
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello")
			_ = log.Sync()
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !iso.Match(b) {
				t.Errorf("log line %q has no ISO 8601 date and time", b)
			}
		})
	}
}

func TestBadSettings(t *testing.T) {
	for _, c := range [][2]string{{"xml", "info"}, {"console", "loud"}} {
		if _, err := New(c[0], c[1]); err == nil {
			t.Errorf("New(%q, %q) accepted", c[0], c[1])
		}
	}
}

package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := Command()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCommandList(t *testing.T) {
	out, err := runCmd(t, "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rolling-deploy [--no-drain]", "canary [--bad]", "backend-crash"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

func TestCommandRefusesBadFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(f, []byte("name: lab\nsteps:\n  - drian: b1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCmd(t, "run", f, "--standalone")
	if err == nil || !strings.Contains(err.Error(), "lab.yaml:3:") {
		t.Fatalf("err = %v, want the file and line", err)
	}
}

// A scenario file whose expectation cannot hold: the command writes the
// records and the timeline, and fails.
func TestCommandRunFailsOnExpectation(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "lab.yaml")
	lab := "name: lab\nload: {rate: 50, duration: 2s}\nsteps:\n  - at: 1s\n    weight: {b1: 2}\nexpect:\n  - failed: \">0\"\n"
	if err := os.WriteFile(f, []byte(lab), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "run", f, "--standalone", "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "1 expectation(s) failed") {
		t.Fatalf("err = %v, want a failed expectation\n%s", err, out)
	}
	for _, ext := range []string{".jsonl", ".html", ".svg"} {
		m, _ := filepath.Glob(filepath.Join(dir, "lab-*"+ext))
		if len(m) != 1 {
			t.Errorf("no %s written:\n%s", ext, out)
			continue
		}
		if ext == ".jsonl" {
			fd, _ := os.Open(m[0])
			recs, err := ReadJSONL(fd)
			fd.Close()
			if err != nil || len(recs) != 100 {
				t.Errorf("%d records (%v), want 100", len(recs), err)
			}
		}
	}
	if !strings.Contains(out, "FAIL  failed") || !strings.Contains(out, "ok 100, failed 0") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestCommandRunNamesVariant: a variant's run is headed by its own name and
// description (--no-drain said "each backend is drained first, so no
// request fails", the base scenario's).
func TestCommandRunNamesVariant(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "lab.yaml")
	lab := "name: lab\ndescription: the right way.\nload: {rate: 20, duration: 500ms}\nsteps:\n  - sleep: 100ms\n" +
		"variants:\n  wrong:\n    description: the wrong way.\n"
	if err := os.WriteFile(f, []byte(lab), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "run", f, "--standalone", "--variant", "wrong", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "lab --wrong: the wrong way.") || strings.Contains(out, "the right way") {
		t.Errorf("the run is not headed by its variant:\n%s", out)
	}
}

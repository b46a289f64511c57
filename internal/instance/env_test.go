package instance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteEnv: the env file is mode 0600, replaced in one step, its
// values quoted for sh, and ReadTokens reads back what it holds.
func TestWriteEnv(t *testing.T) {
	noTokensInEnv(t)
	dir := t.TempDir()
	p, err := WriteEnv(dir, Tokens{DNSD: "d0", LBD: "it's", Control: "c0"})
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "netsim.env") {
		t.Errorf("path %s", p)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `export DNSD_TOKEN=d0 LBD_TOKEN='it'\''s' NETSIM_CONTROL_TOKEN=c0`+"\n") {
		t.Errorf("env file:\n%s", b)
	}
	if got, err := ReadTokens(p); err != nil || got != (Tokens{DNSD: "d0", LBD: "it's", Control: "c0"}) {
		t.Errorf("ReadTokens = %+v, %v; want what was written", got, err)
	}
	// a second write replaces the file and keeps the mode
	if _, err := WriteEnv(dir, Tokens{DNSD: "d1", LBD: "l1", Control: "c1"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "DNSD_TOKEN=d1 LBD_TOKEN=l1") {
		t.Errorf("rewritten env file:\n%s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestReadTokens(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string // "": no file
		env  map[string]string
		want Tokens
		err  bool
	}{
		{name: "netsim's line", file: "export DNSD_TOKEN=d LBD_TOKEN='it'\\''s' NETSIM_CONTROL_TOKEN=c\n", want: Tokens{"d", "it's", "c"}},
		{name: "one assignment a line", file: "# by hand\nDNSD_TOKEN=abc\nexport LBD_TOKEN=\"s3cret\"\n", want: Tokens{DNSD: "abc", LBD: "s3cret"}},
		{name: "the environment wins", file: "export DNSD_TOKEN=d LBD_TOKEN=l NETSIM_CONTROL_TOKEN=c\n",
			env: map[string]string{"LBD_TOKEN": "fromenv"}, want: Tokens{"d", "fromenv", "c"}},
		{name: "no file", env: map[string]string{"LBD_TOKEN": "l"}, want: Tokens{LBD: "l"}, err: true},
		{name: "no file, every token in the environment",
			env: map[string]string{"DNSD_TOKEN": "d", "LBD_TOKEN": "l", "NETSIM_CONTROL_TOKEN": "c"}, want: Tokens{"d", "l", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noTokensInEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			f := filepath.Join(t.TempDir(), "netsim.env")
			if tc.file != "" {
				if err := os.WriteFile(f, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadTokens(f)
			if got != tc.want || (err != nil) != tc.err {
				t.Fatalf("ReadTokens = %+v, %v; want %+v and an error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// noTokensInEnv clears the tokens' variables for the test.
func noTokensInEnv(t *testing.T) {
	for _, v := range (&Tokens{}).vars() {
		t.Setenv(v.name, "")
	}
}

package instance

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvFile is the env file's name in the directory: `source var/netsim.env`
// sets the admin tokens in a shell.
const EnvFile = "netsim.env"

// Tokens are a running netsim's admin tokens, as the env file names them:
// DNSD_TOKEN, LBD_TOKEN and NETSIM_CONTROL_TOKEN.
type Tokens struct {
	DNSD, LBD, Control string
}

// tokenVar is a token's variable and where its value goes.
type tokenVar struct {
	name string
	v    *string
}

// vars are the tokens' variables, in the order the file lists them.
func (t *Tokens) vars() []tokenVar {
	return []tokenVar{{"DNSD_TOKEN", &t.DNSD}, {"LBD_TOKEN", &t.LBD}, {"NETSIM_CONTROL_TOKEN", &t.Control}}
}

// WriteEnv writes dir/netsim.env (mode 0600: it holds the admin tokens),
// replacing it in one step, and returns its path.
func WriteEnv(dir string, t Tokens) (string, error) {
	f, err := os.CreateTemp(dir, "."+EnvFile+"-*")
	if err != nil {
		return "", err
	}
	var assign []string
	for _, v := range t.vars() {
		assign = append(assign, v.name+"="+shellQuote(*v.v))
	}
	body := fmt.Sprintf("# written by netsim (pid %d) at start; removed when it stops\nexport %s\n", os.Getpid(), strings.Join(assign, " "))
	_, werr := f.WriteString(body)
	cerr := f.Close()
	path := filepath.Join(dir, EnvFile)
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o600)); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return path, nil
}

// ReadTokens is each token from the environment when set there, else from
// envFile (WriteEnv's `export A=x B=y` line, or one assignment a line).
// The file is read only when the environment lacks a token; the error is
// the file's (missing, unreadable), with the tokens found so far.
func ReadTokens(envFile string) (Tokens, error) {
	var t Tokens
	missing := false
	for _, v := range t.vars() {
		*v.v = os.Getenv(v.name)
		missing = missing || *v.v == ""
	}
	if !missing {
		return t, nil
	}
	f, err := os.Open(envFile)
	if err != nil {
		return t, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		for _, kv := range strings.Fields(line) {
			k, val, _ := strings.Cut(kv, "=")
			for _, v := range t.vars() {
				if v.name == k && *v.v == "" {
					*v.v = unquote(val)
				}
			}
		}
	}
	return t, sc.Err()
}

// shellQuote quotes s for sh when it holds anything beyond [A-Za-z0-9._-].
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// unquote undoes shellQuote, and a pair of double quotes (tokens have no
// spaces, so a value is one field).
func unquote(v string) string {
	if len(v) < 2 || v[0] != v[len(v)-1] {
		return v
	}
	switch v[0] {
	case '\'':
		return strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
	case '"':
		return v[1 : len(v)-1]
	}
	return v
}

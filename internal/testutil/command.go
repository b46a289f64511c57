package testutil

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// CommandCase is a command line and what it must do: fail with an error
// containing Err ("" for success) and print Out (a substring of what it
// writes; "" for anything).
type CommandCase struct {
	Name     string
	Args     []string
	Out, Err string
}

// Commands runs every case as a subtest on a fresh root from newRoot,
// with its output (standard and error) captured.
func Commands(t *testing.T, newRoot func() *cobra.Command, cases []CommandCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var out strings.Builder
			root := newRoot()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{}, tc.Args...)) // never nil: nil is os.Args
			err := root.Execute()
			switch {
			case tc.Err == "" && err != nil:
				t.Fatalf("%s %q = %v", root.Name(), tc.Args, err)
			case tc.Err != "" && (err == nil || !strings.Contains(err.Error(), tc.Err)):
				t.Fatalf("%s %q = %v, want an error containing %q", root.Name(), tc.Args, err, tc.Err)
			case !strings.Contains(out.String(), tc.Out):
				t.Fatalf("%s %q printed %q, want %q", root.Name(), tc.Args, out.String(), tc.Out)
			}
		})
	}
}

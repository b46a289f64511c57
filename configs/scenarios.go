package configs

import (
	"embed"
	"io/fs"
	"strings"
)

// The built-in scenarios of `netsim scenario` (package netsim/scenario).
//
//go:embed scenarios/*.yaml
var scenarioFiles embed.FS

// Scenario returns a built-in scenario file by name, e.g. "rolling-deploy".
func Scenario(name string) ([]byte, error) {
	return scenarioFiles.ReadFile("scenarios/" + name + ".yaml")
}

// Scenarios lists the built-in scenarios' names, sorted.
func Scenarios() []string {
	ents, _ := fs.ReadDir(scenarioFiles, "scenarios")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	return out
}

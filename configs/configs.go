// Package configs embeds the example and default configurations, so the
// daemons run with no files written first. Every file here is loaded by a test.
package configs

import "embed"

//go:embed *.yaml
var files embed.FS

// Read returns one embedded config file by name, e.g. "dnsd.yaml".
func Read(name string) ([]byte, error) { return files.ReadFile(name) }

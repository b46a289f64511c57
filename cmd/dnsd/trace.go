package main

import "github.com/spf13/cobra"

// addTrace adds the trace subcommand once the resolver exists.
func addTrace(root *cobra.Command) {}

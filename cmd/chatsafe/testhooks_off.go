//go:build !chatsafe_testhooks

package main

import "github.com/spf13/cobra"

// registerTestHooks adds nothing: the shipping binary has no testing-only
// flags (see testhooks.go).
func registerTestHooks(*cobra.Command, *DaemonOptions) {}

// testHooks says this build has the testing-only flags.
const testHooks = false

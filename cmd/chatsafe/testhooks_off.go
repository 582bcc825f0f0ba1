//go:build !chatsafe_testhooks

package main

import "github.com/spf13/cobra"

// registerTestHooks adds nothing: the shipping binary has no testing-only
// flags (see testhooks.go).
func registerTestHooks(*cobra.Command, *DaemonOptions) {}

// testHooks says this build has the testing-only flags.
const testHooks = false

// heapPeakHook is nil: the shipping binary writes no heap profiles.
func heapPeakHook() func(live uint64) { return nil }

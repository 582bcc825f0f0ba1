//go:build chatsafe_testhooks

package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/remotes"
)

// registerTestHooks adds the daemon's testing-only flags. They exist only
// in binaries built with -tags chatsafe_testhooks (the test suites'), never
// in the shipping binary.
func registerTestHooks(cmd *cobra.Command, opts *DaemonOptions) {
	var latency time.Duration
	cmd.Flags().DurationVar(&latency, "test-upload-latency", 0, "testing only: delay every call the uploaders make")
	_ = cmd.Flags().MarkHidden("test-upload-latency")
	opts.wrapUpload = func(r remotes.Remote) remotes.Remote {
		if latency <= 0 {
			return r
		}
		return remotes.Faulty(r, remotes.FaultOptions{Latency: latency})
	}
}

// testHooks says this build has the testing-only flags.
const testHooks = true

//go:build !windows

package service

import (
	"context"
	"io"
)

func runService(ctx context.Context, run func(context.Context) error, exitCode func(error) int, report io.Writer) error {
	return finalError(run(ctx), exitCode, report)
}

// EventLogSource is "": there is an Event Log only on Windows.
func EventLogSource() string { return "" }

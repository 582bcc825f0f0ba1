//go:build !windows

package service

import "context"

func runService(ctx context.Context, run func(context.Context) error, exitCode func(error) int) error {
	return finalError(run(ctx), exitCode)
}

// Command chatsafe makes end-to-end encrypted, incremental backups of a chat
// history directory. This package is thin CLI wiring: flags, output and exit
// codes. Every command lives in its own cmd_*.go file and registers itself
// with the root command in an init function.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

const defaultMemoryLimit = 100 << 20

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

var rootCmd = &cobra.Command{
	Use:   "chatsafe",
	Short: "End-to-end encrypted backups of chat history",
	Long: `chatsafe watches a chat-history directory (a messaging app's SQLite database
plus media), writes small incremental encrypted deltas and pushes them to any
rclone remote. Only the holder of the backup key (the 64-digit recovery key, or
a password kept by a Backup Key Vault) can read them.`,
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	// A soft memory limit keeps the collector ahead of short-lived buffers
	// (a backup's live heap is small); GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatsafe:", err)
		os.Exit(exitCode(err))
	}
}

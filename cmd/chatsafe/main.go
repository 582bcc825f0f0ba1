// Command chatsafe makes end-to-end encrypted, incremental backups of a chat
// history directory. This package is thin CLI wiring: flags, output and exit
// codes. Every command lives in its own cmd_*.go file as a constructor
// (newXCommand) whose flags fill an XOptions struct, and a runX function that
// does the work; newRootCommand builds the tree. Nothing is global, so tests
// run commands in process.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/chatsafe/chatsafe/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=...".
// Read it through binaryVersion.
var version = "dev"

// binaryVersion is this binary's version, the one `chatsafe version`, the
// daemon's status and log, its metrics and the man page all name: the
// linker's, or else the module version the build recorded (`go install
// …@vX`, or a pseudo-version from a checkout); "dev" when neither is known.
func binaryVersion() string { return buildinfo.Get(version).Version }

func main() {
	// A soft memory limit near the live heap (memlimit.go); GOMEMLIMIT
	// overrides it. Heap profiling goes off here too, first thing.
	mem := startMemLimiter(oneShotMemoryFloor)
	ctx, stop := signalContext(context.Background())
	err := interrupted(ctx, newRootCommand(mem).ExecuteContext(ctx))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatsafe:", err)
		os.Exit(exitCode(err))
	}
}

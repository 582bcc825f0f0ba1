//go:build !linux && !darwin

package mount

import (
	"context"
	"fmt"
	"runtime"

	"github.com/chatsafe/chatsafe/browse"
)

// Run is not available here: go-fuse serves Linux and macOS only.
func Run(ctx context.Context, r browse.Reader, dir string, opts Options) error {
	return fmt.Errorf("%w on %s (use `chatsafe ls`, `dump` or `restore --include` instead)", ErrNoFUSE, runtime.GOOS)
}

package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/Microsoft/go-winio"
)

// ListenMode listens on the named pipe for path (PipeName). The modes are
// Unix's: on Windows the pipe's security descriptor admits only the owner,
// SYSTEM and Administrators.
func ListenMode(path string, _, _ os.FileMode) (net.Listener, error) {
	name := PipeName(path)
	me := self()
	if me.SID == "" {
		return nil, fmt.Errorf("listening on %s: cannot read this process's account", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	c, derr := winio.DialPipeContext(ctx, name)
	cancel()
	if derr == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s (is another chatsafe daemon running?)", ErrInUse, name)
	}
	ln, err := winio.ListenPipe(name, &winio.PipeConfig{SecurityDescriptor: pipeSDDL(me.SID)})
	if errors.Is(err, os.ErrPermission) {
		// The pipe exists (first-instance creation is refused), but did not
		// answer: another process holds it.
		return nil, fmt.Errorf("%w: %s: %w", ErrInUse, name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", name, err)
	}
	return ln, nil
}

// Dial connects to the status pipe for path.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, PipeName(path))
}

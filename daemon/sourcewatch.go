package daemon

import (
	"context"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchSource watches the source directory's parent for the source
// itself going away or coming back. The watcher of the chat directory
// cannot follow a directory that is removed and created again (its
// inotify watches die with the old directory, and it falls back to slow
// polling), so when the source reappears the session is restarted and a
// new watcher watches the new directory, starting with a full scan.
// While the source is missing, cycles fail with a clear error and
// nothing is deleted from the backups. With waiting set, the session is
// restarted at once if the source is already there once the watch is in
// place (it came back before we looked).
func (d *Daemon) watchSource(ctx context.Context, src string, waiting bool) error {
	src = filepath.Clean(src)
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		err = fsw.Add(filepath.Dir(src))
		if err != nil {
			fsw.Close()
		}
	}
	if err != nil {
		d.log.Warn("cannot watch the source directory's parent; if the source is removed and created again, restart chatsafe",
			zap.String("parent", filepath.Dir(src)), zap.Error(err))
		<-ctx.Done()
		return nil
	}
	defer fsw.Close()
	isDir := func() bool {
		fi, err := os.Stat(src)
		return err == nil && fi.IsDir()
	}
	if waiting && isDir() {
		d.restartSession()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fsw.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != src {
				continue
			}
			switch {
			case ev.Has(fsnotify.Create) && isDir():
				d.log.Warn("the source directory was created again; watching the new directory and backing it up", zap.String("source", src))
				d.restartSession()
			case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
				d.log.Error("the source directory was removed or renamed; backups wait until it is back at the same path. The backups already made are kept",
					zap.String("source", src))
			}
		case err, ok := <-fsw.Errors:
			if !ok {
				return nil
			}
			d.log.Debug("watching the source directory's parent", zap.Error(err))
		}
	}
}

// restartSession asks serveSessions for a new session with the same
// configuration. It never blocks; requests made together are merged.
func (d *Daemon) restartSession() {
	select {
	case d.restartCh <- struct{}{}:
	default:
	}
}

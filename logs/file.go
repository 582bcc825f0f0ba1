package logs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// MaxFileBytes bounds a log file (Options.File): past it the file moves to
// FILE.1 (replacing the older one) and a new FILE starts, so the log of a
// daemon that runs for months takes at most twice this.
const MaxFileBytes = 10 << 20

// rotatingFile appends to a log file, rotating it past max bytes.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func openRotating(path string, max int64) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("making the log directory: %w", err)
	}
	r := &rotatingFile{path: path, max: max}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("opening the log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening the log file: %w", err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate moves the file to path.1. On Windows an open file cannot be
// renamed, hence the close first.
func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("closing the log file to rotate it: %w", err)
	}
	r.f = nil
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return fmt.Errorf("rotating the log file: %w", err)
	}
	return r.open()
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// teeWriter writes to the file, and to out as well as it can: a Windows
// service's stderr is no handle at all, and must not cost the file its
// lines.
type teeWriter struct {
	file io.Writer
	out  io.Writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.file.Write(p)
	_, _ = t.out.Write(p)
	return n, err
}

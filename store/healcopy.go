package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/remotes"
)

// copySources are the remotes FindCopies asks, each opened once, on its
// own: its history as it holds it, read-only, without this device's state.
type copySources struct {
	r       *Store
	targets []*Target
	dir     string
	opened  map[*Target]*Store
	skip    map[*Target]bool // asked once: not opened, or no copy of this repository
}

func (s *copySources) close() {
	for _, o := range s.opened {
		o.Close()
	}
}

// find returns a verified copy of l from the first remote that holds one
// (nil: none does). A copy that fails verification is noted in c.Rejected,
// a remote that cannot be asked in c.Unasked; only cancellation fails.
func (s *copySources) find(ctx context.Context, l lostDelta, c *Copies) (*DeltaCopy, error) {
	for _, t := range s.targets {
		if t.Remote == s.r.remote || s.skip[t] {
			continue
		}
		o := s.open(ctx, t, c)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("looking for a copy of %s: %w", l.name, err)
		}
		if o == nil {
			continue
		}
		d := o.liveDelta(l.name)
		if d == nil || (l.hash != nil && *l.hash == d.ref.TrailerHash) {
			// Not in its history, or the very delta the remote holds.
			continue
		}
		path, err := o.fetchCopy(ctx, t.Remote, d, s.dir)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("looking for a copy of %s: %w", l.name, ctx.Err())
		case errors.Is(err, ErrIntegrity):
			c.Rejected = append(c.Rejected, fmt.Errorf("remote %s holds a copy of %s that does not verify: %w", t.Name, l.name, err))
			continue
		case err != nil:
			c.Unasked = append(c.Unasked, fmt.Errorf("remote %s: %w", t.Name, err))
			s.skip[t] = true
			continue
		}
		return &DeltaCopy{Name: l.name, From: t.Name, Replaces: l.held, Size: d.size, seq: d.ref.Seq, path: path}, nil
	}
	return nil, nil
}

// open opens t's history, or returns nil: t holds no history this key
// opens (no repository, another one, a damaged config), or cannot be
// asked (c.Unasked says why).
func (s *copySources) open(ctx context.Context, t *Target, c *Copies) *Store {
	if o := s.opened[t]; o != nil {
		return o
	}
	if t.Remote == nil {
		s.skip[t] = true
		c.Unasked = append(c.Unasked, fmt.Errorf("remote %s could not be opened: %w", t.Name, t.OpenErr))
		return nil
	}
	o, err := Open(ctx, t.Remote, s.r.key, Options{ReadOnly: true, Partial: true, Log: zap.NewNop()})
	switch {
	case err == nil:
		s.opened[t] = o
		return o
	case errors.Is(err, ErrNoRepository):
		// Nothing there now: an unmounted drive or a moved folder looks
		// the same, and may hold the copy once it is back.
		c.Unasked = append(c.Unasked, fmt.Errorf("remote %s: %w (is its drive mounted, or its folder moved?); bring it back, or remove it from the config to repair without it", t.Name, ErrRepositoryGone))
	case errors.Is(err, ErrWrongKey) || errors.Is(err, ErrIntegrity):
		s.r.log.Info("another remote holds no readable copy of the repository", zap.String("remote", t.Name), zap.Error(err))
	default:
		c.Unasked = append(c.Unasked, fmt.Errorf("remote %s: %w", t.Name, err))
	}
	s.skip[t] = true
	return nil
}

// fetchCopy downloads d, a live delta of this store, from rem into a file
// under dir and verifies the file as VerifyDelta verifies a delta: its
// trailer opens with the key, names d and is the one this store's history
// pins, and every blob and the padding authenticate. It returns the
// file's path; the file is removed on any failure.
func (r *Store) fetchCopy(ctx context.Context, rem remotes.Remote, d *delta, dir string) (path string, err error) {
	name := d.ref.name()
	f, err := os.CreateTemp(dir, "delta-*")
	if err != nil {
		return "", fmt.Errorf("making room for a copy of %s: %w", name, err)
	}
	path = f.Name()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	err = download(ctx, rem, name, d.size, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the copy of %s: %w", name, cerr)
	}
	if err != nil {
		return "", err
	}
	cp := &delta{ref: d.ref, size: d.size, spoolPath: path}
	plain, t, err := r.readTrailerUncached(ctx, cp)
	if err != nil {
		return "", err
	}
	if trailerHash(plain) != d.ref.TrailerHash {
		return "", integrityErr(name, "is not the delta the remote's history pins (replaced)", nil)
	}
	cp.trailer = t
	if err := r.verifyDelta(ctx, cp); err != nil {
		return "", err
	}
	return path, nil
}

// download copies the size bytes of name on rem into w; fewer is an
// integrity failure (the size is the authenticated one).
func download(ctx context.Context, rem remotes.Remote, name string, size int64, w io.Writer) error {
	rc, err := rem.Get(ctx, name, 0, size)
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, size))
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", name, rem, err)
	}
	if n != size {
		return integrityErr(name, fmt.Sprintf("is %d bytes on %s, its history says %d", n, rem, size), nil)
	}
	return nil
}

// errCopiesReadOnly: the history read with copies standing in is only
// read.
var errCopiesReadOnly = errors.New("the remote with copies standing in is read-only")

// withCopies is a remote with verified local copies of deltas standing in
// for the objects of those names (missing or damaged there): the history
// as it will be once they are copied back. It writes nothing.
type withCopies struct {
	remotes.Remote
	copies map[string]DeltaCopy
}

func (w *withCopies) List(ctx context.Context, dir string) ([]remotes.ObjectInfo, error) {
	objs, err := w.Remote.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []remotes.ObjectInfo
	for _, o := range objs {
		if _, ok := w.copies[o.Name]; !ok {
			out = append(out, o)
		}
	}
	for name, c := range w.copies {
		if dir == "" || strings.HasPrefix(name, dir+"/") {
			out = append(out, remotes.ObjectInfo{Name: name, Size: c.Size})
		}
	}
	return out, nil
}

func (w *withCopies) Stat(ctx context.Context, name string) (remotes.ObjectInfo, error) {
	if c, ok := w.copies[name]; ok {
		return remotes.ObjectInfo{Name: name, Size: c.Size}, nil
	}
	return w.Remote.Stat(ctx, name)
}

func (w *withCopies) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c, ok := w.copies[name]
	if !ok {
		return w.Remote.Get(ctx, name, off, length)
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, fmt.Errorf("reading the copy of %s: %w", name, err)
	}
	if length < 0 || off+length > c.Size {
		length = max(c.Size-off, 0)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, length), f}, nil
}

func (w *withCopies) Put(context.Context, string, io.Reader, int64) error { return errCopiesReadOnly }

func (w *withCopies) Delete(context.Context, string) error { return errCopiesReadOnly }

func (w *withCopies) CleanupPartial(context.Context, time.Duration) error { return nil }

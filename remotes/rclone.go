package remotes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/walk"
)

// atomicBackends are rclone backends on which an upload only becomes visible
// once complete (the object store commits it at the end), so Put writes in
// place and creates exactly one object: Google Drive allows about two new
// files per second, and a temporary name there would also cost a folder.
var atomicBackends = map[string]bool{
	"s3": true, "b2": true, "drive": true, "onedrive": true, "dropbox": true,
	"iclouddrive": true, "memory": true,
}

// cleanupTimeout bounds the removal of a failed upload's temporary object,
// which runs even when the caller's context is already cancelled.
const cleanupTimeout = 30 * time.Second

// rcloneRemote is a Remote on an rclone fs.Fs.
type rcloneRemote struct {
	f       fs.Fs
	desc    string          // String()
	info    remoteInfo      // for errors and hints
	cfgCtx  context.Context // carries this remote's rclone config (retries, ...)
	limiter *bwLimiter      // nil: unlimited
	named   bool            // holds a user of the rclone.conf (released on Close)
	atomic  bool            // uploads commit atomically: no temp+move
	closed  atomic.Bool

	// staleAge is Options.StalePartialAge; the clean-up of stale
	// temporary objects runs before the first Put, until one finishes
	// (cleaned, under cleanMu).
	staleAge time.Duration
	cleanMu  sync.Mutex
	cleaned  bool
}

func (r *rcloneRemote) String() string { return r.desc }

// call prepares ctx for an rclone call: this remote's rclone config, the
// caller's cancellation.
func (r *rcloneRemote) call(ctx context.Context, op, name string) (context.Context, error) {
	if r.closed.Load() {
		return nil, r.err(ctx, op, name, fmt.Errorf("%w: remote is closed", ErrPermanent))
	}
	if err := ctx.Err(); err != nil {
		return nil, r.err(ctx, op, name, err)
	}
	return fs.CopyConfig(ctx, r.cfgCtx), nil
}

func (r *rcloneRemote) err(ctx context.Context, op, name string, err error) error {
	return wrapErr(ctx, op, name, r.desc, r.info, err)
}

func (r *rcloneRemote) Put(ctx context.Context, name string, in io.Reader, size int64) error {
	if err := checkName(name, false); err != nil {
		return r.err(ctx, "put", name, err)
	}
	cctx, err := r.call(ctx, "put", name)
	if err != nil {
		return err
	}
	if !r.atomic {
		r.cleanStaleOnce(cctx)
		if err := ctx.Err(); err != nil {
			return r.err(ctx, "put", name, err)
		}
	}
	if r.linkLocal(name, in, size) {
		return nil
	}
	if r.atomic || r.f.Features().Move == nil {
		return r.err(ctx, "put", name, r.putInPlace(cctx, name, in, size))
	}
	return r.err(ctx, "put", name, r.putAndMove(cctx, name, in, size))
}

// upload writes in to remote (creating or replacing it) and checks that the
// whole of in, and exactly size bytes, arrived.
func (r *rcloneRemote) upload(ctx context.Context, remote string, in io.Reader, size int64, existing fs.Object) (fs.Object, error) {
	cr := &countingReader{r: in}
	var src io.Reader = cr
	if size >= 0 {
		src = &exactSize{r: cr, left: size, size: size}
	}
	if r.limiter != nil {
		src = r.limiter.reader(ctx, src, true)
	}
	info := object.NewStaticObjectInfo(remote, time.Now(), size, true, nil, r.f)
	var obj fs.Object
	var err error
	switch {
	case existing != nil:
		if err = existing.Update(ctx, src, info); err != nil {
			// The backend kept (atomic) or dropped the old version: either way
			// existing is not ours to remove.
			return nil, err
		}
		obj = existing
	case size < 0:
		put := r.f.Features().PutStream
		if put == nil {
			return nil, fmt.Errorf("%w: this backend needs the size of an upload in advance", ErrPermanent)
		}
		obj, err = put(ctx, src, info)
	default:
		obj, err = r.f.Put(ctx, src, info)
	}
	if err == nil && size >= 0 && (cr.n != size || obj.Size() != size) {
		err = fmt.Errorf("upload incomplete: sent %d of %d bytes, remote has %d", cr.n, size, obj.Size())
	}
	return obj, err
}

// putInPlace uploads straight to name: for backends that commit atomically,
// or that cannot move (then the size check, and the caller's MAC on read, are
// what catches a torn upload).
func (r *rcloneRemote) putInPlace(ctx context.Context, name string, in io.Reader, size int64) error {
	existing, err := r.f.NewObject(ctx, name)
	if err != nil {
		if !errors.Is(err, fs.ErrorObjectNotFound) && !errors.Is(err, fs.ErrorDirNotFound) {
			return err
		}
		existing = nil
	}
	obj, err := r.upload(ctx, name, in, size, existing)
	if err != nil && obj != nil {
		// A torn or wrong-sized object under the final name must not look
		// committed.
		r.removeQuietly(ctx, obj)
	}
	return err
}

// putAndMove uploads to a temporary name and renames it into place.
func (r *rcloneRemote) putAndMove(ctx context.Context, name string, in io.Reader, size int64) error {
	tmp := tmpName(name)
	obj, err := r.upload(ctx, tmp, in, size, nil)
	if err != nil {
		// Tidy up at once unless the remote is unreachable (the removal would
		// only queue behind rclone's pacer); CleanupPartial catches the rest.
		if obj != nil && classify(err) != ErrUnreachable {
			r.removeQuietly(ctx, obj)
		}
		return err
	}
	_, err = r.f.Features().Move(ctx, obj, name)
	if errors.Is(err, fs.ErrorCantMove) {
		err = fmt.Errorf("%w: backend cannot rename %s into place", ErrPermanent, tmp)
	}
	if err != nil {
		r.removeQuietly(ctx, obj)
		return fmt.Errorf("moving the finished upload into place: %w", err)
	}
	return nil
}

// removeQuietly deletes a failed upload's object, even when ctx is cancelled;
// what it cannot remove, CleanupPartial will.
func (r *rcloneRemote) removeQuietly(ctx context.Context, obj fs.Object) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = obj.Remove(ctx)
}

func (r *rcloneRemote) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := checkName(name, false); err != nil {
		return nil, r.err(ctx, "get", name, err)
	}
	if offset < 0 {
		return nil, r.err(ctx, "get", name, fmt.Errorf("%w: negative offset %d", ErrPermanent, offset))
	}
	cctx, err := r.call(ctx, "get", name)
	if err != nil {
		return nil, err
	}
	obj, err := r.f.NewObject(cctx, name)
	if err != nil {
		return nil, r.err(ctx, "get", name, err)
	}
	size := obj.Size()
	if size >= 0 && offset > size {
		return nil, r.err(ctx, "get", name, fmt.Errorf("%w: offset %d beyond the end of a %d byte object", ErrPermanent, offset, size))
	}
	if length == 0 || (size >= 0 && offset == size) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts []fs.OpenOption
	switch {
	case length > 0:
		opts = append(opts, &fs.RangeOption{Start: offset, End: offset + length - 1})
	case offset > 0:
		opts = append(opts, &fs.RangeOption{Start: offset, End: -1})
	}
	rc, err := obj.Open(cctx, opts...)
	if err != nil {
		return nil, r.err(ctx, "get", name, err)
	}
	var body io.Reader = rc
	if length > 0 {
		body = io.LimitReader(rc, length)
	}
	if r.limiter != nil {
		body = r.limiter.reader(ctx, body, false)
	}
	return &readCloser{Reader: body, c: rc, wrap: func(err error) error { return r.err(ctx, "get", name, err) }}, nil
}

func (r *rcloneRemote) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	for len(dir) > 0 && dir[len(dir)-1] == '/' {
		dir = dir[:len(dir)-1]
	}
	if err := checkName(dir, true); err != nil {
		return nil, r.err(ctx, "list", dir, err)
	}
	cctx, err := r.call(ctx, "list", dir)
	if err != nil {
		return nil, err
	}
	out, err := r.list(cctx, dir, func(name string) bool { return !isTemporary(name) })
	if err != nil {
		return nil, r.err(ctx, "list", dir, err)
	}
	return out, nil
}

// list walks dir recursively (with ListR where the backend has it) and returns
// the objects keep accepts. A missing dir is empty.
func (r *rcloneRemote) list(ctx context.Context, dir string, keep func(string) bool) ([]ObjectInfo, error) {
	var out []ObjectInfo
	// Errors rclone logs under this context are the ones ListR returns
	// here (listingContext): they are not logged twice.
	err := walk.ListR(listingContext(ctx), r.f, dir, true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
		for _, e := range entries {
			o, ok := e.(fs.Object)
			if !ok || !keep(o.Remote()) {
				continue
			}
			out = append(out, ObjectInfo{Name: o.Remote(), Size: o.Size(), ModTime: o.ModTime(ctx)})
		}
		return nil
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return nil, nil
	}
	return out, err
}

func (r *rcloneRemote) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := checkName(name, false); err != nil {
		return ObjectInfo{}, r.err(ctx, "stat", name, err)
	}
	cctx, err := r.call(ctx, "stat", name)
	if err != nil {
		return ObjectInfo{}, err
	}
	obj, err := r.f.NewObject(cctx, name)
	if err != nil {
		return ObjectInfo{}, r.err(ctx, "stat", name, err)
	}
	return ObjectInfo{Name: name, Size: obj.Size(), ModTime: obj.ModTime(cctx)}, nil
}

func (r *rcloneRemote) Delete(ctx context.Context, name string) error {
	if err := checkName(name, false); err != nil {
		return r.err(ctx, "delete", name, err)
	}
	cctx, err := r.call(ctx, "delete", name)
	if err != nil {
		return err
	}
	obj, err := r.f.NewObject(cctx, name)
	if err != nil {
		return r.err(ctx, "delete", name, err)
	}
	return r.err(ctx, "delete", name, obj.Remove(cctx))
}

func (r *rcloneRemote) CleanupPartial(ctx context.Context, olderThan time.Duration) error {
	cctx, err := r.call(ctx, "clean up partial uploads", "")
	if err != nil {
		return err
	}
	leftovers, err := r.list(cctx, tmpDir, func(string) bool { return true })
	if err != nil {
		return r.err(ctx, "clean up partial uploads", "", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for _, o := range leftovers {
		if o.ModTime.After(cutoff) {
			continue // possibly still being written
		}
		obj, err := r.f.NewObject(cctx, o.Name)
		if err == nil {
			err = obj.Remove(cctx)
		}
		if err != nil && !errors.Is(err, fs.ErrorObjectNotFound) {
			errs = append(errs, r.err(ctx, "clean up partial upload", o.Name, err))
		}
	}
	return errors.Join(errs...)
}

// cleanStale removes what interrupted uploads left in tmp/ (a daemon killed
// mid-upload, a lost connection) once this process starts writing, rather
// than at the next prune. It runs inside the first Put, so none of this
// remote's own uploads is in flight; another writer's fresh upload is spared
// by the age. Failures only leave the objects for CleanupPartial in prune.
func (r *rcloneRemote) cleanStale(ctx context.Context) {
	if r.staleAge < 0 {
		return
	}
	_ = r.CleanupPartial(ctx, r.staleAge)
}

// cleanStaleOnce runs cleanStale with the Put's context, bounded by a
// minute, until one run ends without its context done: a Put cancelled
// meanwhile (Ctrl-C, a slow server) returns at once, and the next Put
// runs the clean-up again rather than leaving the partials for prune.
func (r *rcloneRemote) cleanStaleOnce(ctx context.Context) {
	r.cleanMu.Lock()
	defer r.cleanMu.Unlock()
	if r.cleaned {
		return
	}
	cleanCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r.cleanStale(cleanCtx)
	r.cleaned = ctx.Err() == nil
}

func (r *rcloneRemote) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.named {
		releaseConfig()
	}
	if shutdown := r.f.Features().Shutdown; shutdown != nil {
		ctx, cancel := context.WithTimeout(r.cfgCtx, cleanupTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			return r.err(ctx, "close", "", err)
		}
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readCloser classifies errors that happen while the body is read.
type readCloser struct {
	io.Reader
	c    io.Closer
	wrap func(error) error
}

func (r *readCloser) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = r.wrap(err)
	}
	return n, err
}

func (r *readCloser) Close() error { return r.c.Close() }

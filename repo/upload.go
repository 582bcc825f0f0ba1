package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/remotes"
)

// PendingDelta is a delta in the local spool waiting for upload.
type PendingDelta struct {
	Name string // remote object name
	Path string // spool file
	Size int64
	Seq  uint64
}

// Pending lists the spooled deltas not yet marked uploaded, ascending by
// sequence: the order they must reach a remote in.
func (r *Repository) Pending() []PendingDelta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []PendingDelta
	for _, ref := range r.liveRefs() {
		d := r.deltas[ref.ID]
		if d.spoolPath != "" {
			out = append(out, PendingDelta{Name: ref.name(), Path: d.spoolPath, Size: d.size, Seq: ref.Seq})
		}
	}
	return out
}

// Upload puts one pending delta on dst. The remote makes it visible only
// once complete, so an interrupted upload is never taken as committed.
func (r *Repository) Upload(ctx context.Context, dst remotes.Remote, p PendingDelta) error {
	f, err := os.Open(p.Path)
	if err != nil {
		return fmt.Errorf("opening spooled delta %s: %w", p.Name, err)
	}
	defer f.Close()
	if err := dst.Put(ctx, p.Name, f, p.Size); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", p.Name, dst, err)
	}
	return nil
}

// Uploaded records that p is on every remote; it leaves the spool.
func (r *Repository) Uploaded(p PendingDelta) error {
	r.mu.Lock()
	var d *delta
	for _, cand := range r.deltas {
		if cand.spoolPath == p.Path {
			d = cand
		}
	}
	if d == nil {
		r.mu.Unlock()
		return nil
	}
	sealedTrailer, _ := r.spooledTrailer(d)
	d.onRemote = true
	d.spoolPath = ""
	r.mu.Unlock()
	if sealedTrailer != nil {
		r.storeTrailerCache(d, sealedTrailer)
	}
	if err := os.Remove(p.Path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing uploaded delta from the spool: %w", err)
	}
	return syncDir(r.spoolDir())
}

// spooledTrailer reads the sealed trailer back from a spool file, for the
// trailer cache.
func (r *Repository) spooledTrailer(d *delta) ([]byte, error) {
	f, err := os.Open(d.spoolPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	foot := make([]byte, footerSize)
	if _, err := f.ReadAt(foot, d.size-int64(footerSize)); err != nil {
		return nil, err
	}
	n, ok := decodeFooter(foot)
	if !ok || n > maxTrailerSize || int64(n) > d.size-int64(footerSize) {
		return nil, fmt.Errorf("bad footer")
	}
	b := make([]byte, n)
	_, err = f.ReadAt(b, d.size-int64(footerSize)-int64(n))
	return b, err
}

// Flush uploads every pending delta to the repository's remote, in order,
// and removes each from the spool once it is there.
func (r *Repository) Flush(ctx context.Context) (int, error) {
	n := 0
	for _, p := range r.Pending() {
		if err := r.Upload(ctx, r.remote, p); err != nil {
			return n, err
		}
		if err := faults.Point("upload:put"); err != nil {
			return n, err
		}
		if err := r.Uploaded(p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// CopyConfig copies the repository's config object from src to dst, so
// that dst can hold the same repository (a second remote, or one added
// later and back-filled with every live delta).
func CopyConfig(ctx context.Context, src, dst remotes.Remote) error {
	rc, err := src.Get(ctx, configName, 0, maxConfigSize+1)
	if err != nil {
		return fmt.Errorf("reading the config from %s: %w", src, err)
	}
	defer rc.Close()
	b, err := readConfigObject(rc)
	if err != nil {
		return fmt.Errorf("reading the config from %s: %w", src, err)
	}
	if existing, err := dst.Get(ctx, configName, 0, maxConfigSize+1); err == nil {
		have, rerr := readConfigObject(existing)
		existing.Close()
		if rerr == nil && bytes.Equal(have, b) {
			return nil
		}
		return fmt.Errorf("%s: %w (a different repository; point chatsafe at an empty location)", dst, ErrExists)
	} else if !errors.Is(err, remotes.ErrNotFound) {
		return fmt.Errorf("checking %s for a repository: %w", dst, err)
	}
	if err := dst.Put(ctx, configName, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("writing the config to %s: %w", dst, err)
	}
	return nil
}

// DeltaInfo describes a live delta.
type DeltaInfo struct {
	Name      string
	Seq       uint64
	Size      int64
	SpoolPath string // "" when it is no longer in the spool
}

// LiveDeltas lists every live delta, ascending by sequence: what a remote
// must hold to be complete (for back-filling a remote added later).
func (r *Repository) LiveDeltas() []DeltaInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []DeltaInfo
	for _, ref := range r.liveRefs() {
		d := r.deltas[ref.ID]
		out = append(out, DeltaInfo{Name: ref.name(), Seq: ref.Seq, Size: d.size, SpoolPath: d.spoolPath})
	}
	return out
}

// CopyDelta copies a live delta that is no longer spooled from src to dst.
func CopyDelta(ctx context.Context, src, dst remotes.Remote, d DeltaInfo) error {
	// d.Size was authenticated when the delta was opened; src gets no
	// say in how much is read.
	rc, err := src.Get(ctx, d.Name, 0, d.Size)
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", d.Name, src, err)
	}
	defer rc.Close()
	if err := dst.Put(ctx, d.Name, io.LimitReader(rc, d.Size), d.Size); err != nil {
		return fmt.Errorf("copying %s to %s: %w", d.Name, dst, err)
	}
	return nil
}

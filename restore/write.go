package restore

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// maxWrite caps one write: a new page-cache folio is as large as the
// write that creates it (Linux 6.16 on, ext4), and in a VM whose balloon
// reports free memory to the host (free page reporting), folios from the
// large free blocks it handed back cost a host fault per page. Smaller
// writes are served from small unreported fragments while there are any.
// 16 KiB cost ~0.2 s of system time a restore under the bench's settle;
// 32 KiB (rclone's size for half its bytes) cost none measurable there,
// while 256 KiB restores paid 2-8x their usual system time in rounds
// where rclone's did not (docs/benchmarks.md, "Restore: 32 KiB writes").
const maxWrite = 32 << 10

// file writes one file and gives it its name once whole (newFile), so a
// reader never sees it half-written. dir is dst's directory; dst names
// the file in messages; siblings are the snapshot's entries beside it.
func (rs *restoreRun) file(n *store.Node, dir *dirHandle, dst string, siblings []store.Node) error {
	// browse.Open resolves the references and checks they add up to the
	// entry's size.
	bf, err := browse.Open(rs.ctx, rs.r, n)
	if err != nil {
		return err
	}
	refs, size := bf.Refs(), bf.Size()
	places := bf.ChunkPlaces()
	base := filepath.Base(dst)
	f, err := dir.create()
	if err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	ok := false
	defer func() {
		if !ok {
			f.abandon()
		}
	}()
	err = rs.r.FetchChunks(rs.ctx, refs, func(b *store.Batch) error {
		written, err := writeBatch(f, b, places)
		if err != nil {
			return err
		}
		rs.mu.Lock()
		defer rs.mu.Unlock()
		rs.done += written
		if rs.progress != nil {
			rs.progress(rs.done, rs.total)
		}
		return nil
	})
	if err != nil {
		// A damaged chunk's error names its delta and blob; this names
		// the file it was for.
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	// Sized after the writes, not before: writing into a file already
	// sized (into its hole) took about 14 % more system time on ext4 than
	// writing it as it grows (docs/benchmarks.md, "Restore: the file sized
	// last"). The writes may come in any order; this also sizes a file
	// with no chunks.
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	if err := f.Chmod(n.Mode.Perm()); err != nil {
		return fmt.Errorf("restoring %s: %w", rs.path(dst), err)
	}
	aside, err := rs.setCompanionsAside(n, f, dir, dst, siblings)
	if err != nil {
		return err
	}
	if err := f.place(base); err != nil {
		// The old database keeps its name, and its companions.
		return aside.putBack(fmt.Errorf("restoring %s: %w", rs.path(dst), err))
	}
	ok = true
	// The database has its name: its old companions go.
	asideErr := aside.done()
	mt := time.Unix(0, n.ModTime)
	if err := dir.root.Chtimes(base, mt, mt); err != nil {
		return errors.Join(fmt.Errorf("restoring %s: %w", rs.path(dst), err), asideErr)
	}
	rs.mu.Lock()
	rs.res.Files++
	rs.res.Bytes += size
	rs.mu.Unlock()
	return asideErr
}

// writeBatch places a batch's blobs at every offset they fill and
// returns the bytes written. Blobs that follow each other in the batch
// and in the file are one run, written together: a database's pages come
// back in a few writes per range instead of one each.
func writeBatch(f io.WriterAt, b *store.Batch, places chunkPlaces) (int64, error) {
	var written int64
	runLo, runHi, runAt := 0, 0, int64(0) // the run's bytes in b.Data, and where they go
	lo := 0
	var at []int64
	next := -1 // the position after the last blob's first place in the file
	for i, id := range b.IDs {
		hi := b.Ends[i]
		at, next = places.AtNext(id, next, at[:0])
		if len(at) == 0 {
			// FetchChunks returns only what was asked for.
			return written, fmt.Errorf("internal error: blob %s is not part of the file", id)
		}
		// The offsets come from the list's lengths, the bytes from the
		// blob: a list that states another length than its blob's (a
		// buggy writer's) would overlap or gap its neighbours.
		if want := places.Len(next - 1); int(want) != hi-lo {
			return written, fmt.Errorf("%w: chunk %s has %d bytes, the file's list says %d", store.ErrIntegrity, id, hi-lo, want)
		}
		if runHi > runLo && runHi == lo && runAt+int64(runHi-runLo) == at[0] {
			runHi = hi
		} else {
			if err := writeRun(f, b.Data[runLo:runHi], runAt); err != nil {
				return written, err
			}
			runLo, runHi, runAt = lo, hi, at[0]
		}
		// A chunk the file holds more than once (runs of equal pages)
		// is written at its other places on its own.
		for _, off := range at[1:] {
			if err := writeRun(f, b.Data[lo:hi], off); err != nil {
				return written, err
			}
		}
		written += int64(hi-lo) * int64(len(at))
		lo = hi
	}
	return written, writeRun(f, b.Data[runLo:runHi], runAt)
}

// chunkPlaces finds the offsets a chunk fills (browse.Places.AtNext).
type chunkPlaces interface {
	AtNext(id crypt.ID, next int, buf []int64) ([]int64, int)
	Len(pos int) uint32
}

// writeRun writes p at off in pieces of at most maxWrite.
func writeRun(f io.WriterAt, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), maxWrite)
		if _, err := f.WriteAt(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

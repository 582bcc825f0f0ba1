package store

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/crypt"
)

// The state directory's caches (trailers/, a sealed trailer per remote
// delta, and dicts/, a sealed copy per dictionary) are keyed by delta
// name and blob id. Without a sweep a daemon's grows forever: every
// delta a prune compacts away, here or on another device, leaves its
// trailer, every dictionary it drops, its copy.

// sweepStateCaches removes the cached trailers of deltas the loaded
// history does not list and the copies of dictionaries its index does not
// hold: after a load and after a compaction. Only a writable store does
// (a read-only open changes nothing in the state directory), and not
// with damage or on a rolled-back remote, whether this device's guard or
// the vault saw it (the history read is not all there is: the newer
// deltas are hidden, maybe not gone), or while this device rotates its
// key (two stores share the directory then). A file
// that cannot be removed stays, for the next sweep. Hold r.mu.
func (r *Store) sweepStateCaches() {
	if !r.Writable() || len(r.damage) > 0 || r.rollback || r.guardRollback != nil || r.opts.Rotating {
		return
	}
	listed := make(map[string]bool, len(r.deltas))
	for _, d := range r.deltas {
		listed[filepath.Base(d.ref.name())] = true
	}
	n := r.sweepDir(filepath.Join(r.dir(), "trailers"), func(name string) bool { return listed[name] })
	n += r.sweepDir(filepath.Join(r.dir(), "dicts"), func(name string) bool {
		var id crypt.ID
		b, err := hex.DecodeString(name)
		if err != nil || len(b) != len(id) {
			return true // not a copy: left alone
		}
		copy(id[:], b)
		e := r.index.at(id)
		return e != nil && e.Type == blobDict
	})
	if n > 0 {
		r.log.Debug("removed cached trailers and dictionaries of deltas no longer in the repository", zap.Int("files", n))
	}
}

// sweepDir removes the files of dir that keep rejects; it skips the
// temporary files of writes under way (writeFileAtomic's ".name.tmp-*").
func (r *Store) sweepDir(dir string, keep func(name string) bool) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0 // none yet
	}
	removed := 0
	for _, ent := range ents {
		name := ent.Name()
		if strings.HasPrefix(name, ".") || !ent.Type().IsRegular() || keep(name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			removed++
		} else if !os.IsNotExist(err) {
			r.log.Warn("cannot remove a stale cache file", zap.String("path", filepath.Join(dir, name)), zap.Error(err))
		}
	}
	return removed
}

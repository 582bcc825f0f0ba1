package restore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/store"
)

// A restore with Force into a directory that already holds files writes
// the snapshot's and keeps the rest. Users restoring an old snapshot over
// a directory expect it to match the snapshot, so the restore reports
// what the target holds under the restored paths that the snapshot does
// not; with Delete it removes that (restic's restore --delete).
//
// "Under the restored paths" is what the filters select, as the restore
// itself: an excluded path is never looked into, and with Include only a
// path it matches, or one below such a path, counts. The walk reads the
// target through its os.Root and descends only into real directories (a
// directory entry's type, never a symlink's target): a symlink is an
// entry like a file, removed itself. Whatever the target is changed into
// meanwhile, the Root keeps every call inside it.

// maxExtraListed extras are named in a Result; the rest are counted.
const maxExtraListed = 10

// recordDir records the snapshot directory dst's entries, for extras.
func (rs *restoreRun) recordDir(dst string, nodes []store.Node) {
	if rs.snapDirs == nil {
		return
	}
	names := make(map[string]bool, len(nodes))
	for i := range nodes {
		names[nodes[i].Name] = nodes[i].Kind == store.KindDir
	}
	rs.snapDirs[filepath.ToSlash(dst)] = names
}

// extraScan walks the target after a restore for what the snapshot does
// not hold.
type extraScan struct {
	rs     *restoreRun
	delete bool
}

// extras finds, and with del deletes, what the target holds under the
// restored paths that the snapshot does not (Result.Extra...).
func (rs *restoreRun) extras(del bool) error {
	s := &extraScan{rs: rs, delete: del}
	rs.res.Deleted = del
	if err := s.snapshotDir(".", len(rs.include) == 0); err != nil {
		if del {
			return fmt.Errorf("the snapshot is restored, but deleting what it does not hold from %s failed: %w", rs.target, err)
		}
		return fmt.Errorf("the snapshot is restored, but looking for what it does not hold in %s failed: %w", rs.target, err)
	}
	return nil
}

// entries lists the target directory rel, by name.
func (s *extraScan) entries(rel string) ([]fs.DirEntry, error) {
	d, err := s.rs.root.Open(filepath.FromSlash(rel))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return ents, nil
}

// snapshotDir compares the target directory rel, a directory of the
// snapshot, with the snapshot's; in says everything in it is selected.
func (s *extraScan) snapshotDir(rel string, in bool) error {
	names, ok := s.rs.snapDirs[rel]
	if !ok {
		// Every directory the restore walked is recorded; without its
		// names everything here would count as an extra.
		return fmt.Errorf("internal error: the snapshot's directory %s was not recorded", rel)
	}
	ents, err := s.entries(rel)
	if err != nil {
		return err
	}
	for _, e := range ents {
		crel := path.Join(rel, e.Name())
		if browse.MatchAny(s.rs.exclude, crel) {
			continue
		}
		cin := in || browse.MatchAny(s.rs.include, crel)
		isDir, inSnap := names[e.Name()]
		switch {
		case inSnap && isDir && e.IsDir():
			if err := s.snapshotDir(crel, cin); err != nil {
				return err
			}
		case inSnap:
			// The snapshot's entry (restored, or left out by Include).
		case e.IsDir():
			if _, err := s.extraDir(crel, cin); err != nil {
				return err
			}
		case cin:
			if err := s.extraFile(crel); err != nil {
				return err
			}
		}
	}
	return nil
}

// extraDir handles rel, a real directory the snapshot does not hold: its
// selected entries are extras, and so is it when it is selected (in) or
// when deleting them emptied it. It reports whether rel is gone.
func (s *extraScan) extraDir(rel string, in bool) (bool, error) {
	ents, err := s.entries(rel)
	if err != nil {
		return false, err
	}
	left, removed := len(ents), 0
	for _, e := range ents {
		crel := path.Join(rel, e.Name())
		if browse.MatchAny(s.rs.exclude, crel) {
			continue
		}
		cin := in || browse.MatchAny(s.rs.include, crel)
		var gone bool
		switch {
		case e.IsDir():
			gone, err = s.extraDir(crel, cin)
		case cin:
			err = s.extraFile(crel)
			gone = s.delete
		}
		if err != nil {
			return false, err
		}
		if gone {
			left--
			removed++
		}
	}
	if !in && removed == 0 {
		return false, nil // nothing in it is selected: not the restore's business
	}
	if !s.delete {
		s.rs.res.ExtraDirs++
		return false, nil
	}
	if left > 0 {
		return false, nil // what the filters leave out stays, and so does its directory
	}
	if err := s.rs.root.Remove(filepath.FromSlash(rel)); err != nil {
		return false, err
	}
	s.rs.res.ExtraDirs++
	return true, nil
}

// extraFile counts (and with delete removes) rel, a file or symlink the
// snapshot does not hold.
func (s *extraScan) extraFile(rel string) error {
	if s.delete {
		// The entry itself: a symlink is unlinked, never followed.
		if err := s.rs.root.Remove(filepath.FromSlash(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	s.rs.res.ExtraFiles++
	if len(s.rs.res.Extra) < maxExtraListed {
		s.rs.res.Extra = append(s.rs.res.Extra, rel)
	}
	return nil
}

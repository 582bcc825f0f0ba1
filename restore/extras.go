package restore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

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
//
// A path absent from the snapshot is not always one the user removed
// since: the backup leaves out what the config's exclude: matches
// (Options.BackupExclude), and a file it could not read, with no earlier
// version, is absent and named in Snapshot.Incomplete (a directory it
// could not list keeps its earlier entries, so what it holds now is
// absent too). In a live chat folder each is the only copy: it is kept,
// also with Delete, and counted apart (Result.Kept).

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
	// unread are the snapshot's Incomplete paths, cleaned.
	unread map[string]bool
}

// extras finds, and with del deletes, what the target holds under the
// restored paths that the snapshot does not (Result.Extra...), keeping
// what the backup leaves out or could not read (Result.Kept...).
func (rs *restoreRun) extras(del bool) error {
	s := &extraScan{rs: rs, delete: del, unread: map[string]bool{}}
	for _, o := range rs.res.Snapshot.Incomplete {
		s.unread[path.Clean(strings.TrimPrefix(filepath.ToSlash(o.Path), "/"))] = true
	}
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
		case s.backupLeavesOut(crel, e.IsDir()):
			s.kept(crel, e.IsDir(), cin)
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
// when deleting them empties it. It reports whether rel is gone (without
// delete: would be).
func (s *extraScan) extraDir(rel string, in bool) (bool, error) {
	ents, err := s.entries(rel)
	if err != nil {
		return false, err
	}
	left, gone := len(ents), 0
	for _, e := range ents {
		crel := path.Join(rel, e.Name())
		if browse.MatchAny(s.rs.exclude, crel) {
			continue
		}
		cin := in || browse.MatchAny(s.rs.include, crel)
		var g bool
		switch {
		case s.backupLeavesOut(crel, e.IsDir()):
			s.kept(crel, e.IsDir(), cin)
		case e.IsDir():
			g, err = s.extraDir(crel, cin)
		case cin:
			err = s.extraFile(crel)
			g = true
		}
		if err != nil {
			return false, err
		}
		if g {
			left--
			gone++
		}
	}
	if !in && gone == 0 {
		return false, nil // nothing in it is selected: not the restore's business
	}
	if left > 0 {
		// What the filters leave out, or the backup does, stays, and so
		// does its directory.
		return false, nil
	}
	if s.delete {
		if err := s.rs.root.Remove(filepath.FromSlash(rel)); err != nil {
			return false, err
		}
	}
	s.rs.res.ExtraDirs++
	return true, nil
}

// backupLeavesOut reports whether rel, which the snapshot does not hold,
// may be absent because the backup leaves it out (the config's exclude:)
// or could not read it or a directory above it (Snapshot.Incomplete).
func (s *extraScan) backupLeavesOut(rel string, isDir bool) bool {
	if s.rs.backupExclude != nil && s.rs.backupExclude(rel, isDir) {
		return true
	}
	if len(s.unread) == 0 {
		return false
	}
	if s.unread["."] {
		return true // the source itself could not be read
	}
	for i := range len(rel) + 1 {
		if (i == len(rel) || rel[i] == '/') && s.unread[rel[:i]] {
			return true
		}
	}
	return false
}

// kept counts rel, kept as a path the backup leaves out, when it is
// selected (in).
func (s *extraScan) kept(rel string, isDir, in bool) {
	if !in {
		return
	}
	if isDir {
		s.rs.res.KeptDirs++
	} else {
		s.rs.res.KeptFiles++
	}
	if len(s.rs.res.Kept) < maxExtraListed {
		s.rs.res.Kept = append(s.rs.res.Kept, rel)
	}
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

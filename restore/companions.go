package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/chatsafe/chatsafe/store"
)

// A database is backed up as one consistent image, never with its -wal,
// -shm or -journal (source/sqlite.go). Restored with Force into a
// directory that holds such companions (the chat app's own, from a newer
// state), it would be read with them: SQLite replays a -wal, and rolls a
// hot -journal back, whenever their own headers and checksums hold,
// whatever database file it finds beside them. The restored database
// would read as a mix of the snapshot and the app's later pages
// (companions_test.go). So they go once the database has its name.
//
// Until then they belong to the old database: its -wal holds its
// transactions not yet checkpointed. They are renamed aside (a temporary
// name in their directory, where SQLite does not look) just before the
// database takes its name, removed once it has it, and put back if it
// cannot take it (TestRestoreForceKeepsCompanionsWhenPlacingFails).

// sqliteCompanions are the files SQLite keeps beside a database, as
// source/sqlite.go names them.
var sqliteCompanions = []string{"-wal", "-journal", "-shm"}

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// companionsAside are the companions of one database being restored,
// renamed aside until it has its name. A nil one holds none.
type companionsAside struct {
	rs    *restoreRun
	dir   *dirHandle
	dst   string // the database, target-relative
	at    string // its directory
	names []string
	tmps  []string
}

// setCompanionsAside renames the companions of the database being
// restored as dst (its file f, whole but not yet named) aside in its
// directory dir. A file counts as a database as it did to the backup:
// recorded as one, or starting with SQLite's header (a database SQLite
// could not read is stored as a plain file). A name the snapshot itself
// holds in that directory (siblings) is left: it is restored as the
// snapshot's.
func (rs *restoreRun) setCompanionsAside(n *store.Node, f *newFile, dir *dirHandle, dst string, siblings []store.Node) (*companionsAside, error) {
	if !rs.overwrite {
		return nil, nil // a new or empty target holds no companions
	}
	if n.Kind != store.KindSQLite {
		var hdr [16]byte // len(sqliteMagic)
		k, _ := f.ReadAt(hdr[:], 0)
		if !bytes.Equal(hdr[:k], sqliteMagic) {
			return nil, nil
		}
	}
	ca := &companionsAside{rs: rs, dir: dir, dst: dst, at: filepath.Dir(dst)}
	base := filepath.Base(dst)
	for _, s := range sqliteCompanions {
		name := base + s
		if hasNode(siblings, name) {
			continue
		}
		if err := ca.setAside(name); err != nil {
			return nil, ca.putBack(fmt.Errorf("setting %s aside, left beside the database being restored (SQLite would apply it to the restored database; remove it and restore again): %w",
				rs.path(filepath.Join(ca.at, name)), err))
		}
	}
	return ca, nil
}

// setAside renames the companion name aside, if there is one. A symlink
// is renamed, never followed. A directory holds no database's data: an
// empty one is removed at once, a non-empty one stops the restore of the
// database before it takes its name.
func (ca *companionsAside) setAside(name string) error {
	fi, err := ca.dir.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		if err := ca.dir.root.Remove(name); err != nil {
			return err
		}
		ca.rs.noteCompanion(filepath.Join(ca.at, name))
		return nil
	}
	for {
		// Named after the companion, for whoever finds it after a crash.
		tmp := tempName() + "-" + name
		if _, err := ca.dir.root.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return err
			}
			continue
		}
		if err := ca.dir.root.Rename(name, tmp); err != nil {
			return err
		}
		ca.names, ca.tmps = append(ca.names, name), append(ca.tmps, tmp)
		return nil
	}
}

// putBack renames the companions set aside back, the database not having
// taken its name (cause says why), and returns cause with what failed.
func (ca *companionsAside) putBack(cause error) error {
	if ca == nil {
		return cause
	}
	errs := []error{cause}
	for i := len(ca.names) - 1; i >= 0; i-- {
		if err := ca.dir.root.Rename(ca.tmps[i], ca.names[i]); err != nil {
			errs = append(errs, fmt.Errorf("the old database's %s, set aside as %s, could not be put back (rename it back yourself): %w",
				ca.names[i], ca.rs.path(filepath.Join(ca.at, ca.tmps[i])), err))
		}
	}
	ca.names, ca.tmps = nil, nil
	return errors.Join(errs...)
}

// done removes the companions set aside, the database having its name.
func (ca *companionsAside) done() error {
	if ca == nil {
		return nil
	}
	var errs []error
	for i, tmp := range ca.tmps {
		if err := ca.dir.root.Remove(tmp); err != nil {
			errs = append(errs, fmt.Errorf("%s is restored, but its old %s, set aside as %s, could not be removed (SQLite does not read it under that name; remove it): %w",
				ca.rs.path(ca.dst), ca.names[i], ca.rs.path(filepath.Join(ca.at, tmp)), err))
			continue
		}
		ca.rs.noteCompanion(filepath.Join(ca.at, ca.names[i]))
	}
	return errors.Join(errs...)
}

// noteCompanion records the companion rel (target-relative) as removed.
func (rs *restoreRun) noteCompanion(rel string) {
	rs.mu.Lock()
	rs.res.Companions = append(rs.res.Companions, filepath.ToSlash(rel))
	rs.mu.Unlock()
}

// hasNode reports whether nodes holds an entry named name.
func hasNode(nodes []store.Node, name string) bool {
	for i := range nodes {
		if nodes[i].Name == name {
			return true
		}
	}
	return false
}

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
// (companions_test.go). So they go, just before the database takes its
// name.

// sqliteCompanions are the files SQLite keeps beside a database, as
// source/sqlite.go names them.
var sqliteCompanions = []string{"-wal", "-journal", "-shm"}

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// clearCompanions removes the companions of the database being restored
// as dst (its file f, whole but not yet named) from its directory dir.
// A file counts as a database as it did to the backup: recorded as one,
// or starting with SQLite's header (a database SQLite could not read is
// stored as a plain file). A name the snapshot itself holds in that
// directory (siblings) is left: it is restored as the snapshot's.
func (rs *restoreRun) clearCompanions(n *store.Node, f *newFile, dir *dirHandle, dst string, siblings []store.Node) error {
	if !rs.overwrite {
		return nil // a new or empty target holds no companions
	}
	if n.Kind != store.KindSQLite {
		var hdr [16]byte // len(sqliteMagic)
		k, _ := f.ReadAt(hdr[:], 0)
		if !bytes.Equal(hdr[:k], sqliteMagic) {
			return nil
		}
	}
	base := filepath.Base(dst)
	for _, s := range sqliteCompanions {
		name := base + s
		if hasNode(siblings, name) {
			continue
		}
		// A symlink is removed, never followed; a non-empty directory
		// cannot be, and the database is then not restored beside it.
		err := dir.root.Remove(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		rel := filepath.Join(filepath.Dir(dst), name)
		if err != nil {
			return fmt.Errorf("removing %s, left beside the database being restored (SQLite would apply it to the restored database; remove it and restore again): %w", rs.path(rel), err)
		}
		rs.mu.Lock()
		rs.res.Companions = append(rs.res.Companions, filepath.ToSlash(rel))
		rs.mu.Unlock()
	}
	return nil
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

package mount

import "bytes"

// A SQLite database is stored as its pages read in one read transaction:
// a complete, consistent image with every committed transaction in it,
// whose header still says WAL mode (bytes 18 and 19, the file format
// write and read versions, are 2) when the app's database is in WAL mode.
// SQLite opens a WAL-mode database only with a -shm beside it, which a
// read-only mount cannot hold, so sqlite3 failed there with "unable to
// open database file". The mount serves those two bytes as 1, rollback
// mode (https://www.sqlite.org/fileformat2.html#file_format_version_numbers),
// which SQLite reads on read-only media with no file beside it: no WAL
// is missing from the image, and no hot journal can exist in the mount.
// dump and restore give the bytes as stored.

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// versionsAt is where the file format write and read versions are.
const versionsAt = 18

// headerLen is how much of the header walHeader needs.
const headerLen = versionsAt + 2

// walHeader reports whether h, a database's first bytes, is a SQLite
// header in WAL mode.
func walHeader(h []byte) bool {
	return len(h) >= headerLen && bytes.Equal(h[:len(sqliteMagic)], sqliteMagic) &&
		h[versionsAt] == 2 && h[versionsAt+1] == 2
}

// asRollback sets the format versions to 1 (rollback mode) where p, the
// file's bytes from off on, covers them.
func asRollback(p []byte, off int64) {
	for i := int64(versionsAt); i < headerLen; i++ {
		if i >= off && i-off < int64(len(p)) {
			p[i-off] = 1
		}
	}
}

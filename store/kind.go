package store

// Kind is how a tree entry's content is represented. Its values are the
// bytes the tree format writes (docs/format.md); the backup maps the
// source's kinds onto them.
type Kind uint8

// The entry kinds.
const (
	KindFile    Kind = 1 // regular file: content-defined chunks, media at fixed offsets
	KindSQLite  Kind = 2 // SQLite database, one chunk per page
	KindDir     Kind = 3
	KindSymlink Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindSQLite:
		return "sqlite"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return "unknown"
}

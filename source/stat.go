package source

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// statID is the identity of a file's content as far as stat can tell. Two equal
// statIDs taken at different times mean "unchanged" (modulo the racy window,
// see racyWindow).
type statID struct {
	Size    int64
	MtimeNs int64
	CtimeNs int64 // 0 where the platform has no ctime
	Ino     uint64
	Dev     uint64
}

func idOf(fi fs.FileInfo) statID {
	id := statID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	fillSys(&id, fi)
	return id
}

// changeTime is the later of mtime and ctime: the last moment the content or
// the inode could have changed.
func (id statID) changeTime() time.Time {
	t := id.MtimeNs
	if id.CtimeNs > t {
		t = id.CtimeNs
	}
	return time.Unix(0, t)
}

// lstatID returns the identity of path, the zero statID if it does not exist.
func lstatID(path string) (statID, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return statID{}, nil
	}
	if err != nil {
		return statID{}, err
	}
	return idOf(fi), nil
}

package remotes

import (
	"io"
	"os"
	"path/filepath"
)

// linkLocal puts a complete local file into a local-path remote by a hard
// link (temporary name, then rename), so a spooled delta is written to disk
// once rather than copied a second time. It reports false, having changed
// nothing visible, whenever that is not possible (another file system, a
// bandwidth limit, a reader that is not a whole regular file) or not wanted
// (the file has another link already); the caller then uploads normally.
//
// Only a file with no other link is linked: the spool's, before any remote
// holds it. A second local remote linked to the same file would be no copy
// at all; a change in place to one (a bit flip, a tool that rewrites in
// place) would be a change to both.
func (r *rcloneRemote) linkLocal(name string, in io.Reader, size int64) bool {
	f, ok := in.(*os.File)
	if !ok || r.limiter != nil || r.info.backend != "local" {
		return false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return false
	}
	if n, ok := linkCount(f); !ok || n != 1 {
		return false
	}
	root := filepath.FromSlash(r.f.Root())
	dst := filepath.Join(root, filepath.FromSlash(name))
	tmp := filepath.Join(root, filepath.FromSlash(tmpName(name)))
	if os.MkdirAll(filepath.Dir(tmp), 0o755) != nil || os.MkdirAll(filepath.Dir(dst), 0o755) != nil {
		return false
	}
	if os.Link(f.Name(), tmp) != nil {
		return false
	}
	// A Put of the same file into another remote at the same moment (the
	// daemon uploads to its remotes at once) may have linked it too: then
	// the count is above two, this one backs out and copies, and at most
	// one of the two keeps its link.
	if n, ok := linkCount(f); !ok || n != 2 {
		os.Remove(tmp)
		return false
	}
	if os.Rename(tmp, dst) != nil {
		os.Remove(tmp)
		return false
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return true
}

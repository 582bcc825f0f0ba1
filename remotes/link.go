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
// bandwidth limit, a reader that is not a whole regular file); the caller
// then uploads normally.
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
	root := filepath.FromSlash(r.f.Root())
	dst := filepath.Join(root, filepath.FromSlash(name))
	tmp := filepath.Join(root, filepath.FromSlash(tmpName(name)))
	if os.MkdirAll(filepath.Dir(tmp), 0o755) != nil || os.MkdirAll(filepath.Dir(dst), 0o755) != nil {
		return false
	}
	if os.Link(f.Name(), tmp) != nil {
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

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// treeSize counts the regular files under dir and their total size.
func treeSize(dir string) (int, int64, error) {
	var n int
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += fi.Size()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measuring %s: %w", dir, err)
	}
	return n, size, nil
}

// fileState identifies one version of a file in a repository directory.
type fileState struct {
	size  int64
	mtime int64
}

// listing is a repository directory's files by relative path.
type listing map[string]fileState

func listTree(dir string) (listing, error) {
	l := listing{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		l[rel] = fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return l, nil
}

// written is the bytes a backup wrote into a repository: the sizes of
// files that are new or changed between two listings. It is what a cloud
// remote holding that directory would have had to receive, and is
// measured the same way for every tool.
func written(before, after listing) int64 {
	var n int64
	for p, a := range after {
		if b, ok := before[p]; !ok || b != a {
			n += a.size
		}
	}
	return n
}

// sqliteSidecar reports whether rel is a SQLite -wal, -shm or -journal
// file: restored copies of those are not compared byte for byte.
func sqliteSidecar(rel string) bool {
	return strings.HasSuffix(rel, "-wal") || strings.HasSuffix(rel, "-shm") || strings.HasSuffix(rel, "-journal")
}

// compareTrees checks that every regular file of src other than the
// message database and its sidecars exists in dst with the same bytes.
func compareTrees(src, dst string) error {
	want, err := hashTree(src)
	if err != nil {
		return err
	}
	return compareHashes(want, dst)
}

// hashTree hashes every regular file under src but the message database
// and its sidecars, by relative path.
func hashTree(src string) (map[string][]byte, error) {
	want := map[string][]byte{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		if rel == filepath.FromSlash(DBRelPath) || sqliteSidecar(rel) {
			return nil
		}
		h, err := hashFile(p)
		want[rel] = h
		return err
	})
	return want, err
}

// compareHashes checks that every file hashTree found exists in dst with
// the same hash.
func compareHashes(want map[string][]byte, dst string) error {
	for rel, h := range want {
		got, err := hashFile(filepath.Join(dst, rel))
		if err != nil {
			return fmt.Errorf("restored tree lacks %s: %w", rel, err)
		}
		if !bytes.Equal(h, got) {
			return fmt.Errorf("restored %s differs from the source", rel)
		}
	}
	return nil
}

func hashFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// copyTree copies the directory src to dst (which must not exist): files,
// directories and symlinks, with their modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
}

// stateKeeper puts a tool's local state (its cache) back as it was before
// the first restore round, so that no round restores from what an earlier
// round left there (kopia caches the contents a restore read).
type stateKeeper struct{ dir, saved string }

// keepState saves dir ("" keeps nothing) beside itself.
func keepState(dir string) (stateKeeper, error) {
	if dir == "" {
		return stateKeeper{}, nil
	}
	k := stateKeeper{dir: dir, saved: dir + ".before-restore"}
	if err := os.RemoveAll(k.saved); err != nil {
		return k, err
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return stateKeeper{}, nil
	}
	return k, copyTree(dir, k.saved)
}

// reset puts the saved state back, the state the last round left
// retired by r.
func (k stateKeeper) reset(r *retirer) error {
	if k.dir == "" {
		return nil
	}
	if err := r.retire(k.dir); err != nil {
		return err
	}
	return copyTree(k.saved, k.dir)
}

// drop removes the saved copy.
func (k stateKeeper) drop() {
	if k.saved != "" {
		os.RemoveAll(k.saved)
	}
}

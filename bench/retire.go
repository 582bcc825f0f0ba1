package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// A retirer takes the directories the rounds are done with (a restore,
// the last round's repository, a cache about to be put back) out of the
// way without deleting a file: each file is emptied, which gives its
// blocks back, and the directory is moved under a retired/ directory that
// is deleted when the bench ends (purge).
//
// Deleting them as the rounds went made the next round pay for it. ext4
// without a journal (the bench's VM) skips every inode freed in the last
// minute or more when it looks for a free one, from the group's first
// inode for each new file; a restore made where the last one had just been
// deleted spent a quarter of its CPU there, the peers' as much as ours
// (docs/benchmarks.md, "The bench's deleted inodes"). An emptied file keeps
// its inode, so no inode is freed until the bench is over.
type retirer struct {
	dir string // where retired directories go
	mu  sync.Mutex
	n   int
}

func newRetirer(work string) *retirer {
	return &retirer{dir: filepath.Join(work, "retired")}
}

// retire empties every regular file under dir and moves dir under r.dir;
// a dir that does not exist is nothing to do.
func (r *retirer) retire(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if err := os.Truncate(p, 0); err != nil {
			// restic and kopia make their packs read-only.
			if cerr := os.Chmod(p, 0o600); cerr != nil {
				return fmt.Errorf("emptying %s: %w", p, err)
			}
			return os.Truncate(p, 0)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retiring %s: %w", dir, err)
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	r.mu.Lock()
	r.n++
	to := filepath.Join(r.dir, strconv.Itoa(r.n)+"-"+filepath.Base(dir))
	r.mu.Unlock()
	if err := os.Rename(dir, to); err != nil {
		return fmt.Errorf("retiring %s: %w", dir, err)
	}
	return nil
}

// purge deletes what was retired.
func (r *retirer) purge() error {
	return os.RemoveAll(r.dir)
}

// roundDir names a round's directory (round from 0) in parent: name in
// the first round, name-r2 and on after it.
func roundDir(parent, name string, round int) string {
	if round == 0 {
		return filepath.Join(parent, name)
	}
	return filepath.Join(parent, fmt.Sprintf("%s-r%d", name, round+1))
}

// laterRounds lists the directories roundDir named in parent for rounds
// after the first: name-r<n>, n a number.
func laterRounds(parent, name string) []string {
	dirs, _ := filepath.Glob(filepath.Join(parent, name+"-r*"))
	var out []string
	for _, d := range dirs {
		if _, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), name+"-r")); err == nil {
			out = append(out, d)
		}
	}
	return out
}

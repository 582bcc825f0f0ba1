package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// readIntoCache reads every regular file under each root once, so that
// the timed phase that follows finds its input in the page cache, as the
// first tool in line does (the corpus was just written). On this VM a
// DAMON pageout scheme drops page-cache pages it deems idle, at times the
// whole corpus between two tools' backups, and the tool after it read
// 1.3 GB from disk (docs/benchmarks.md, "The bench's order"). It is what
// holdInCache does for the files it cannot map and on systems other than
// Linux. A root that does not exist (a tool without local state) is
// skipped. Files skip names (the app's database, appFiles) are read by a
// child process instead: SQLite's locks are POSIX record locks, which a
// close of any descriptor of the file in this process would drop.
func readIntoCache(skip func(path string) bool, roots ...string) error {
	buf := make([]byte, 1<<20)
	var app []string
	defer func() { readInChild(app) }()
	return eachInput(roots, func(path string, d fs.DirEntry) error {
		if skip != nil && skip(path) {
			app = append(app, path)
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			if _, err := f.Read(buf); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("reading %s into the page cache: %w", path, err)
			}
		}
	})
}

// eachInput calls fn for every regular file under each root, skipping a
// root that is empty or does not exist (a tool without local state).
func eachInput(roots []string, fn func(path string, d fs.DirEntry) error) error {
	for _, root := range roots {
		if _, err := os.Stat(root); root == "" || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return fn(path, d)
		})
		if err != nil {
			return fmt.Errorf("reading %s: %w", root, err)
		}
	}
	return nil
}

// readInChild reads paths into the page cache through cat(1), a process of
// its own; without cat they are left as they are.
func readInChild(paths []string) {
	if len(paths) == 0 {
		return
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return
	}
	cmd := exec.Command(cat, paths...)
	cmd.Stdout = io.Discard
	_ = cmd.Run() // a file the app removed meanwhile is not the phase's concern
}

// appFiles says whether path is one of the app's live database files: db
// and its -wal, -shm and -journal.
func appFiles(db string) func(path string) bool {
	return func(path string) bool {
		switch path {
		case db, db + "-wal", db + "-shm", db + "-journal":
			return true
		}
		return false
	}
}

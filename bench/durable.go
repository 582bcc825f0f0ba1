package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// makeDurable fsyncs every file under dir, then every directory (so that
// the files' names are on disk too), and says how long that took. The
// bench adds it to each backup's time, for every tool alike: a backup is
// done when a crash can no longer lose it. A tool that fsyncs what it
// writes during its run (chatsafe does) finds little left here; one that
// returns with its files still in the page cache pays for writing them
// back. Per file rather than sync(2), so that no tool pays for other
// processes' dirty pages on a shared machine.
func makeDurable(dir string) (time.Duration, error) {
	start := time.Now()
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return fsyncPath(path)
	})
	if err != nil {
		return 0, fmt.Errorf("making %s durable: %w", dir, err)
	}
	for _, d := range dirs {
		if err := fsyncDir(d); err != nil {
			return 0, fmt.Errorf("making %s durable: %w", dir, err)
		}
	}
	return time.Since(start), nil
}

func fsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

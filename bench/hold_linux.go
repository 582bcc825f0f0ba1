package main

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Limits on what holdInCache maps; files past them are only read.
var (
	// maxHeldFiles stays well under vm.max_map_count (65530 by default):
	// the large cycle corpus has 50,000 small files.
	maxHeldFiles = 16384
	// maxHeldShare: at most a quarter of the machine's memory is held, so
	// that a large tree corpus does not crowd out other processes.
	maxHeldShare int64 = 4
)

// holdInCache reads every regular file under roots into the page cache and
// keeps it there until release is called: each file is mapped read-only
// and populated (MAP_POPULATE), and page-cache pages that are mapped are
// left alone by what drops idle ones, the DAMON pageout scheme of this VM
// (it acts on unmapped pages only) and fadvise(DONTNEED) alike; reclaim
// under memory pressure takes unmapped pages first. Reading alone was not
// enough: between settle's read and chatsafe's restore, 200 MB of its
// repository were dropped again, and the restore read them from disk.
// Files past maxHeldFiles or a quarter of the memory are read, not held.
func holdInCache(skip func(path string) bool, roots ...string) (release func(), err error) {
	var maps [][]byte
	release = func() {
		for _, m := range maps {
			_ = unix.Munmap(m)
		}
		maps = nil
	}
	budget := memTotal() / maxHeldShare
	var rest []string // files read, not held
	err = eachInput(roots, func(path string, d fs.DirEntry) error {
		if skip != nil && skip(path) {
			rest = append(rest, path) // read by readIntoCache, in a child
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() == 0 {
			return nil
		}
		if len(maps) >= maxHeldFiles || fi.Size() > budget {
			rest = append(rest, path)
			return nil
		}
		m, err := mapPopulated(path, fi.Size())
		if err != nil {
			return err
		}
		maps = append(maps, m)
		budget -= fi.Size()
		return nil
	})
	if err != nil {
		release()
		return func() {}, fmt.Errorf("holding the input in the page cache: %w", err)
	}
	if err := readIntoCache(skip, rest...); err != nil {
		return release, err
	}
	return release, nil
}

func mapPopulated(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// memTotal is the machine's memory in bytes (/proc/meminfo), or 4 GiB
// when it cannot be read.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	var kb int64
	if err == nil {
		if _, err = fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil && kb > 0 {
			return kb << 10
		}
	}
	return 4 << 30
}

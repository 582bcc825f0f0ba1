package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropStartPages unmaps the pages of the executable that package
// initialisation touched, so that what stays resident is what the command
// itself uses. The rclone backends' init alone touches some 18 MB of the
// executable that no backup or restore to a local path uses again
// (docs/benchmarks.md, "Peak RSS"). The pages stay in the page cache: one
// the command needs again is mapped back by a minor fault, with the same
// bytes. Best effort: on any error nothing is dropped.
func dropStartPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return
	}
	for _, r := range startPageRanges(smaps, exe) {
		// An error leaves the pages mapped, which is only what they were.
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, r.lo, r.hi-r.lo, syscall.MADV_DONTNEED)
	}
}

// pageRange is one mapping, [lo, hi).
type pageRange struct{ lo, hi uintptr }

// startPageRanges picks from smaps the mappings that can be dropped: the
// executable's read-only ones (code, read-only data) that hold no private
// copy of any page (Anonymous: 0 kB). MADV_DONTNEED maps a private file
// mapping's pages back from the file, so a page written after the load
// (relocations, before their mapping was made read-only) would lose what
// was written: a mapping with one is kept, as is every writable one.
func startPageRanges(smaps []byte, exe string) []pageRange {
	var out []pageRange
	cur, keep := pageRange{}, false
	flush := func() {
		if keep {
			out = append(out, cur)
		}
		keep = false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			// A mapping's header: range, permissions, offset, device, inode, path.
			flush()
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			keep = len(f) == 6 && f[5] == exe && (f[1] == "r-xp" || f[1] == "r--p") && err1 == nil && err2 == nil && h > l
			cur = pageRange{lo: uintptr(l), hi: uintptr(h)}
			continue
		}
		if f[0] == "Anonymous:" && (len(f) < 2 || f[1] != "0") {
			keep = false
		}
	}
	flush()
	if sc.Err() != nil {
		return nil
	}
	return out
}

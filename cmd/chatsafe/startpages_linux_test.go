package main

import (
	"hash/crc32"
	"os"
	"testing"
)

const sampleSmaps = `00400000-00402000 r--p 00000000 fe:00 11019250                           /opt/chatsafe
Size:                  8 kB
Rss:                   8 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
00402000-02218000 r-xp 00002000 fe:00 11019250                           /opt/chatsafe
Size:              30808 kB
Rss:               21096 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
04183000-04184000 r--p 03d82000 fe:00 11019250                           /opt/chatsafe
Size:                  4 kB
Anonymous:             4 kB
VmFlags: rd mr mw me ac sd
04184000-04358000 rw-p 03d83000 fe:00 11019250                           /opt/chatsafe
Size:               1872 kB
Anonymous:           364 kB
c000000000-c004000000 rw-p 00000000 00:00 0 
Size:              65536 kB
Anonymous:         54000 kB
7f0000000000-7f0000020000 r-xp 00000000 fe:00 22                         /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                128 kB
Anonymous:             0 kB
7f0000030000-7f0000031000 r--p 00000000 fe:00 23                         /opt/chatsafe (deleted)
Anonymous:             0 kB
`

// Only the executable's read-only mappings without a private page are
// dropped: not its relocated page, its data, the heap or a library.
func TestStartPageRanges(t *testing.T) {
	got := startPageRanges([]byte(sampleSmaps), "/opt/chatsafe")
	want := []pageRange{{0x400000, 0x402000}, {0x402000, 0x2218000}}
	if len(got) != len(want) {
		t.Fatalf("ranges %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranges %x, want %x", got, want)
		}
	}
	if r := startPageRanges([]byte(sampleSmaps), "/usr/bin/other"); len(r) != 0 {
		t.Fatalf("another executable's smaps gave %x", r)
	}
}

var startPagesData = []int{1, 2, 3}

// The process runs on after its start pages are dropped: code and
// read-only tables are mapped back, written data keeps what was written.
func TestDropStartPagesKeepsTheProcess(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	if len(startPageRanges(smaps, exe)) == 0 {
		t.Fatal("found none of the test binary's own mappings to drop")
	}
	startPagesData[1] = 20
	sum := crc32.ChecksumIEEE([]byte("chatsafe"))
	dropStartPages()
	if startPagesData[1] != 20 || startPagesData[2] != 3 {
		t.Fatalf("written data after the drop: %v", startPagesData)
	}
	if got := crc32.ChecksumIEEE([]byte("chatsafe")); got != sum {
		t.Fatalf("a table-driven checksum changed across the drop: %x, then %x", sum, got)
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The tree corpus (--tree-corpus SIZE): a chat app's whole directory of
// about SIZE bytes, to measure what chatsafe's memory grows with (issue
// 18: peak RSS ≤ 150 MB for a 10 GB tree). A tenth of it is the message
// database, built in bulk as the large cycle corpus is; the rest is media
// of the usual kinds, some thousands of files per 10 GB.

// treePrefix starts the name of every tree corpus.
const treePrefix = "tree-corpus "

// bytesPerMessage is about what a generated message costs in the
// database, its index included (1.7 million make the --full corpus's
// 275 MB database).
const bytesPerMessage = 165

// parseTreeSize reads a size such as "10g" or "500m" (GiB, MiB).
func parseTreeSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	unit := int64(1)
	switch {
	case strings.HasSuffix(t, "g"):
		unit, t = 1<<30, strings.TrimSuffix(t, "g")
	case strings.HasSuffix(t, "m"):
		unit, t = 1<<20, strings.TrimSuffix(t, "m")
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || n*float64(unit) > 1<<40 {
		return 0, fmt.Errorf("--tree-corpus %q: give a size such as 10g or 500m (at most 1024g)", s)
	}
	size := int64(n * float64(unit))
	if size < 64<<20 {
		return 0, fmt.Errorf("--tree-corpus %q: the tree needs at least 64m", s)
	}
	return size, nil
}

// treeSpec is the corpus of a tree of about size bytes.
func treeSpec(name string, size int64) Spec {
	db := size / 10
	return Spec{Name: treePrefix + name, Messages: int(db / bytesPerMessage), Chats: 5000, MediaBytes: size - db, Seed: 1, Bulk: true}
}

// treeDiskNeed is the free space a tree run needs in the workdir: the
// tree and every tool's repository (each about the tree's size: media
// does not compress), and a margin. The restores need no more: the
// source's media is deleted before them (treeRestoreCheck).
func treeDiskNeed(size int64, tools int) int64 { return size*int64(1+tools) + size/20 + 1<<30 }

// checkTreeDisk fails before anything is written when the workdir
// cannot hold the run.
func checkTreeDisk(work string, size int64, tools int) error {
	free, ok := freeBytes(work)
	if !ok {
		return nil
	}
	if need := treeDiskNeed(size, tools); free < need {
		return fmt.Errorf("the tree corpus and %d repositories need %s free in %s, which has %s: give a smaller --tree-corpus, fewer --tools, or another --workdir", tools, mb(need), work, mb(free))
	}
	return nil
}

// treeRestoreCheck frees the disk for the restores: it hashes every file
// of the source but the database (which the Writer holds open and the
// restores are checked against row by row), deletes the media, and
// returns the check each restore gets: the same files with the same
// hashes.
func (b *benchRun) treeRestoreCheck() (func(root string) error, error) {
	logf("hashing the source tree, then deleting its media to make room for the restores")
	want, err := hashTree(b.src)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(b.src, "media")); err != nil {
		return nil, fmt.Errorf("deleting the source's media: %w", err)
	}
	return func(root string) error { return compareHashes(want, root) }, nil
}

// treeRSSTarget judges chatsafe's peak RSS (cs; nil: it did not run) on a
// tree corpus against issue 18's goal for 10 GB; a smaller tree is only
// reported.
func (res *Results) treeRSSTarget(cs *ToolResult) Target {
	t := Target{Name: "peak RSS", Goal: "≤ 150 MB for a 10 GB tree (issue 18)", Limit: 150}
	if cs == nil {
		t.Measured = "n/a"
		return t
	}
	t.Value = float64(cs.PeakRSS) / 1e6
	t.Measured = fmt.Sprintf("%s (%.2f× the goal) on %s", mb(cs.PeakRSS), t.Value/t.Limit, mb(res.Corpus.Bytes))
	if res.Corpus.Bytes < 10e9 {
		t.Note = "judged on a tree of 10 GB or more"
		return t
	}
	t.Met = boolp(t.Value <= t.Limit)
	if !*t.Met {
		t.Note = fmt.Sprintf("missed by %.0f MB", t.Value-t.Limit)
	}
	return t
}

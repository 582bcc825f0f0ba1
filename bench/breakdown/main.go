// Command breakdown prints where a chatsafe repository's bytes go, delta
// by delta: page and file payloads, lists, patches, trees, dictionaries,
// seals, the trailer's index, the rest of the trailer and the padding.
// It opens the repository a bench run left with --workdir DIR --keep
// (the last round's, DIR/chatsafe-r<n>/config.yaml, or DIR/chatsafe/
// after one round), read-only, and, when restic's is there too, sums it
// by directory beside it.
//
//	go run ./bench/breakdown --workdir DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
)

func main() {
	work := flag.String("workdir", "", "the bench's scratch directory (kept with --keep)")
	flag.Parse()
	if *work == "" {
		fmt.Fprintln(os.Stderr, "breakdown: give --workdir, the directory a bench run kept")
		os.Exit(2)
	}
	if err := run(context.Background(), *work); err != nil {
		fmt.Fprintln(os.Stderr, "breakdown:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, work string) error {
	cfg, err := configs.Load(filepath.Join(lastRound(work, "chatsafe"), "config.yaml"))
	if err != nil {
		return fmt.Errorf("reading the bench's chatsafe config (was the bench run with --keep?): %w", err)
	}
	inst, err := instance.Open(ctx, cfg, instance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer inst.Close()
	ds, err := inst.Store.Bytes(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "delta\tsize\tpages\t(n)\t(plain)\tfiles\t(n)\tlists\tpatches\tlistidx\ttrees\tdicts\tseals\tindex\ttrailer\tpadding\tfooter\t")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", filepath.Base(d.Name)[:16], d.Size,
			d.Pages.Stored, d.Pages.Count, d.Pages.Plain, d.Files.Stored, d.Files.Count, d.Lists.Stored, d.Patches.Stored,
			d.ListIndexes.Stored, d.Trees.Stored, d.Dicts.Stored, d.Seals, d.Index, d.Trailer, d.Padding, d.Footer)
		sum := d.Pages.Stored + d.Files.Stored + d.Lists.Stored + d.Patches.Stored + d.ListIndexes.Stored + d.Trees.Stored +
			d.Dicts.Stored + d.Seals + d.Index + d.Trailer + d.Padding + d.Footer
		if sum != d.Size {
			return fmt.Errorf("%s: the classes add up to %d bytes, not its %d", d.Name, sum, d.Size)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return resticDirs(filepath.Join(lastRound(work, "restic"), "repo"))
}

// lastRound is the directory a tool kept in the bench's last round:
// work/<name>-r<n> with the largest n, or work/<name> when there was one
// round.
func lastRound(work, name string) string {
	dir, last := filepath.Join(work, name), 1
	dirs, _ := filepath.Glob(filepath.Join(work, name+"-r*"))
	for _, d := range dirs {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), name+"-r"))
		if err == nil && n > last {
			dir, last = d, n
		}
	}
	return dir
}

// resticDirs prints restic's repository bytes by top-level directory.
func resticDirs(repo string) error {
	if _, err := os.Stat(repo); err != nil {
		return nil
	}
	sizes := map[string]int64{}
	err := filepath.WalkDir(repo, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, p)
		top, _, _ := cutSep(rel)
		sizes[top] += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("summing restic's repository: %w", err)
	}
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Println("restic:")
	for _, n := range names {
		fmt.Printf("  %-10s %d\n", n, sizes[n])
	}
	return nil
}

func cutSep(p string) (string, string, bool) {
	for i := 0; i < len(p); i++ {
		if os.IsPathSeparator(p[i]) {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

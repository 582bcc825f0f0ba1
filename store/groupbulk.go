package store

import (
	"github.com/klauspost/compress/zstd"
)

// Groups past a delta's first groupBulkAfter bytes of grouped pages are
// compressed at groupBulkLevel (docs/benchmarks.md, "Bytes stored,
// eleventh session"). On the bench's --full database (275.6 MB of pages)
// SpeedBetterCompression stores 0.3925 of the pages' size where
// SpeedDefault stores 0.4075: 4.1 MB less, for ~1.4× the groups'
// compression CPU. Below the threshold (a daemon's cycle, a database
// like --quick's 19.3 MB) the saving is a few hundred KB at most, less
// than a padded delta's step, and the CPU would be spent for nothing.
//
// Its encoder keeps ~18 MiB of match tables at two cores, SpeedDefault's
// 6.7 MiB, and the soft memory limit follows the live heap in a one-shot
// backup and in the daemon's first. So it belongs to the delta being
// written, not to the dictionary: it goes when the delta is finished, when
// the backup says a database's pages are done (Writer.EndPages), and while
// it is in use the dictionary's groupLevel encoder is let go (the delta's
// lone pages take dictBulkLevel by then). The daemon keeps one state, not
// one a core (Options.OneBulkEncoder): its first backup of the 10 GB tree
// held ~10 MB less in the same time, where a one-shot backup of the
// bench's --full corpus took ~18 % longer with one (docs/benchmarks.md,
// "Twenty-ninth session").
const groupBulkLevel = zstd.SpeedBetterCompression

// groupBulkAfter is a variable for tests only.
var groupBulkAfter int64 = 32 << 20

// bulkGroupPages is how many pages a group past groupBulkAfter holds at
// most, twice groupPages: at groupBulkLevel the encoder restores its
// 4 MiB long table from the dictionary's copy before every frame (a
// 128 KiB group dirties every shard of it), so a group of 64 pages pays
// that copy once where two of 32 paid it twice (docs/benchmarks.md,
// "First backup, twelfth session"). A read of one page of such a group
// decodes up to 256 KiB (maxGroupPlain); the first groupBulkAfter bytes,
// which hold a daemon's cycle and a database like --quick's, stay at
// groupPages.
const bulkGroupPages = 2 * groupPages

// groupSplit is how many of n claimed pages, n >= 2, the next group of a
// run takes: all of them once w is past groupBulkAfter (a run holds at
// most bulkGroupPages), else an even share of groups of at most
// groupPages, so that no group is left with a single page.
func (w *deltaWriter) groupSplit(n int) int {
	if n <= groupPages || w.groupPlain.Load() >= groupBulkAfter {
		return n
	}
	groups := (n + groupPages - 1) / groupPages
	return (n + groups - 1) / groups
}

// groupBulk is a delta writer's encoder of groups at groupBulkLevel, for
// the dictionary it was made with.
type groupBulk struct {
	d   *dictionary
	enc *zstd.Encoder
}

// groupEncoder returns the encoder for a group of n plaintext bytes
// compressed with d: d's at groupLevel for the delta's first
// groupBulkAfter bytes of groups, then w's at groupBulkLevel.
func (w *deltaWriter) groupEncoder(d *dictionary, n int) (*zstd.Encoder, error) {
	if w.groupPlain.Add(int64(n)) <= groupBulkAfter {
		return d.groupEncoder()
	}
	w.bulkMu.Lock()
	defer w.bulkMu.Unlock()
	if w.bulk.d != d {
		// The first bulk group, or a new dictionary since (a retrain).
		// The old encoder is dropped, not closed: a worker may still be
		// using it.
		opts := d.encoderOptions(groupBulkLevel)
		if w.r.opts.OneBulkEncoder {
			opts = append(opts, zstd.WithEncoderConcurrency(1)) // the last one counts
		}
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			return nil, err
		}
		w.bulk = groupBulk{d: d, enc: enc}
	}
	// Every time, not once: a worker that counted its group below the
	// threshold just before may have made it again.
	if groupLevel != groupBulkLevel && d.encs[groupLevel].enc.Load() != nil {
		d.dropEncoder(groupLevel)
	}
	return w.bulk.enc, nil
}

// dropGroupBulk lets the bulk encoder's tables go.
func (w *deltaWriter) dropGroupBulk() {
	w.bulkMu.Lock()
	w.bulk = groupBulk{}
	w.bulkMu.Unlock()
}

// EndPages says the pages handed to Pages so far are all sealed (a
// database's last run is settled): the delta being written lets its bulk
// encoder go, which a later run past the threshold makes again.
func (b *Writer) EndPages() {
	if w := b.cur.Load(); w != nil {
		w.dropGroupBulk()
	}
}

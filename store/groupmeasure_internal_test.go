package store

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// BenchmarkGroupLevels measures what a group's level and size cost and
// give on a real SQLite database: every page, in groups of consecutive
// pages, compressed with a 256 KiB raw dictionary of pages spread over
// the file (as the writer makes it), one EncodeAll a group. It reports
// the ratio (of plain size), the CPU time a page takes (process user +
// system time, one core), "measure": the same with the retrain check's
// page (the first page of the group alone, at dictBulkLevel) measured for
// every group, as noteGroupRatio did before it sampled, "sampled": with
// it measured for a group that holds one of every ratioEveryPages pages,
// as noteGroupRatio does,
// and "decode-µs/group": what a read of one page (a mount's) costs to
// decompress its group.
//
//	CHATSAFE_DICT_DB=/tmp/w/chats/databases/msgstore.db \
//	  go test -run '^$' -bench GroupLevels -benchtime 2x ./store
//
// Without CHATSAFE_DICT_DB it builds a small chat database of its own;
// CHATSAFE_DICT_PAGES=N (benchDBPages) takes the file's first N pages only.
func BenchmarkGroupLevels(b *testing.B) {
	pages := benchDBPages(b)
	b.Logf("%d pages of %d bytes", len(pages), len(pages[0]))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	d := &dictionary{id: crypt.ID{7}, kind: dictKindRaw, content: rawContent(pages, pickSpread(pages, 256<<10), 256<<10, false)}
	bulk, err := zstd.NewWriter(nil, d.encoderOptions(dictBulkLevel)...)
	if err != nil {
		b.Fatal(err)
	}
	levels := []struct {
		level zstd.EncoderLevel
		sizes []int
	}{
		{zstd.SpeedFastest, []int{16, 32}},
		{groupLevel, []int{16, groupPages}},
		{groupBulkLevel, []int{groupPages, bulkGroupPages}},
	}
	for _, l := range levels {
		level := l.level
		for _, size := range l.sizes {
			// measure: 0 none, 1 every group's first page, ratioEveryPages
			// as noteGroupRatio does (a group that holds a 64th page).
			for _, measure := range []int{0, 1, ratioEveryPages} {
				name := fmt.Sprintf("%s/%d", level, size)
				switch measure {
				case 1:
					name += "/measure"
				case ratioEveryPages:
					name += "/sampled"
				}
				b.Run(name, func(b *testing.B) {
					enc, err := zstd.NewWriter(nil, d.encoderOptions(level)...)
					if err != nil {
						b.Fatal(err)
					}
					var plain, comp int
					var buf, one []byte
					var frames [][]byte
					b.ResetTimer()
					cpu0 := processCPU(b)
					for range b.N {
						plain, comp = 0, 0
						for k := 0; k < len(pages); k += size {
							g := bytes.Join(pages[k:min(k+size, len(pages))], nil)
							buf = enc.EncodeAll(g, buf[:0])
							if len(frames) < len(pages)/size+1 {
								frames = append(frames, bytes.Clone(buf))
							}
							plain += len(g)
							comp += min(len(buf), len(g))
							if measure > 0 && (k+size+measure-1)/measure > (k+measure-1)/measure {
								one = bulk.EncodeAll(pages[k], one[:0])
							}
						}
					}
					b.StopTimer()
					cpu := processCPU(b) - cpu0
					b.ReportMetric(float64(comp)/float64(plain), "ratio")
					b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*len(pages)), "cpu-µs/page")
					b.ReportMetric(0, "ns/op")
					dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderDictRaw(d.zstdID(), d.content))
					if err != nil {
						b.Fatal(err)
					}
					defer dec.Close()
					out := make([]byte, 0, size*len(pages[0]))
					cpu0 = processCPU(b)
					for _, f := range frames {
						if out, err = dec.DecodeAll(f, out[:0]); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(len(frames)), "decode-µs/group")
				})
			}
		}
	}
}

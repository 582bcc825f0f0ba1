package store

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// BenchmarkRetrainPhase measures how much the retrain check's outcome
// rests on which pages stand for its windows (noteGroupRatio measures one
// page in ratioEveryPages, so a 1 MiB window of 4 KiB pages rests on
// four). For every phase o, the page measured being the one at
// ratioEveryPages·k+o, it counts the windows whose measured pages compress
// a quarter worse than the dictionary's ratio, which is what starts a
// retrain. With groups of bulkGroupPages past the bulk threshold the page
// measured is each run's first (phase 0); with runs of groupPages sealed
// by two workers it was the first of whichever of two runs reached the
// counter's multiple first (phase 0 or 32). The dictionary is made of
// leaf pages spread over the file, as a source's sample is; its ratio is
// measured on the held-out fifth, or is CHATSAFE_RATIO (per mille, e.g.
// the one a backup's debug log gave).
//
//	CHATSAFE_DICT_DB=/tmp/w/chats/databases/msgstore.db \
//	  go test -run '^$' -bench RetrainPhase -benchtime 1x ./store
func BenchmarkRetrainPhase(b *testing.B) {
	pages := benchDBPages(b)
	var content []byte
	var held [][]byte
	for i, k := range pickSpreadLeaves(pages, dictSample*len(pages[0])) {
		if i%5 == 4 {
			held = append(held, pages[k])
		} else if len(content)+len(pages[k]) <= dictContentMax {
			content = append(content, pages[k]...)
		}
	}
	d := &dictionary{id: crypt.ID{7}, kind: dictKindRaw, content: content}
	enc, err := zstd.NewWriter(nil, append(d.encoderOptions(dictBulkLevel), zstd.WithEncoderConcurrency(1))...)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	ratio := encodedRatio(enc, held)
	if v, err := strconv.Atoi(os.Getenv("CHATSAFE_RATIO")); err == nil && v > 0 && v <= 1000 {
		ratio = uint32(v)
	}
	comp := make([]int, len(pages))
	var buf []byte
	for range b.N {
		for i, p := range pages {
			buf = enc.EncodeAll(p, buf[:0])
			comp[i] = min(len(buf), len(p))
		}
	}
	perWindow := max(dictWindow/(ratioEveryPages*len(pages[0])), 1)
	fires := make([]int, ratioEveryPages)
	where := make([][]string, ratioEveryPages)
	for o := range ratioEveryPages {
		w, wp, wc := 0, 0, 0
		for i := o; i < len(pages); i += ratioEveryPages {
			wp, wc = wp+len(pages[i]), wc+comp[i]
			if w++; w < perWindow {
				continue
			}
			if int64(wc)*1000 > int64(wp)*int64(ratio)*5/4 {
				fires[o]++
				where[o] = append(where[o], fmt.Sprintf("%d MiB: %d‰", i*len(pages[0])>>20, wc*1000/wp))
			}
			w, wp, wc = 0, 0, 0
		}
	}
	sorted := slices.Sorted(slices.Values(fires))
	none := 0
	for _, n := range fires {
		if n == 0 {
			none++
		}
	}
	b.Logf("dictionary %d‰, a window fires over %d‰; windows fired by phase: min %d, median %d, max %d, %d phases of %d fire none",
		ratio, ratio*5/4, sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1], none, len(sorted))
	b.Logf("phase 0 (a run's first page): %v; phase 32: %v", where[0], where[32])
	b.ReportMetric(float64(fires[0]), "fired-phase0")
	b.ReportMetric(float64(fires[32]), "fired-phase32")
	b.ReportMetric(float64(sorted[len(sorted)/2]), "fired-median")
	b.ReportMetric(0, "ns/op")
}

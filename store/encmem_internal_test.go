package store

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/crypt"
)

// allocated is the number of bytes fn allocates (TotalAlloc only grows,
// so a collection meanwhile does not blur it).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// encoderBudget is what one zstd encoder may allocate to compress one
// blob: its tables and a history sized to what it can reference. zstd's
// default window is 8 MiB, and an encoder keeps a history that large
// (one per core, per dictionary, for as long as the process lives)
// although it never sees more than the dictionary and one blob: that was
// a third of a first backup's peak RSS on the bench's --full corpus.
const encoderBudget = 3 << 20

func TestDictEncoderHistoryFitsItsInput(t *testing.T) {
	pages := textPages(3, 3000, 70)
	content := bytes.Join(pages[:64], nil)
	if len(content) != dictContentMax {
		t.Fatalf("dictionary content is %d bytes, want the largest (%d)", len(content), dictContentMax)
	}
	d, err := parseDict(crypt.ID{1}, encodeDict(1, 500, dictKindRaw, content))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat(pages[65], dictMaxBlob/len(pages[65]))
	// The first blob makes the encoders (one per core, 1.3 MiB of tables
	// each at this level) and gives one of them a history and the
	// dictionary's tables (1.25 MiB): with two cores, 6 MiB is ample.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	enc, err := d.encoder(false)
	if err != nil {
		t.Fatal(err)
	}
	var comp []byte
	n := allocated(func() { comp = enc.EncodeAll(big, nil) })
	if budget := uint64(2 * encoderBudget); n > budget {
		t.Errorf("a dictionary encoder allocated %.1f MiB for one %d-byte page, want at most %.1f MiB", float64(n)/(1<<20), len(big), float64(budget)/(1<<20))
	}
	// The smaller window still reaches the whole dictionary: a page that
	// is in it compresses to almost nothing.
	if c := enc.EncodeAll(pages[0], nil); len(c) > len(pages[0])/20 {
		t.Errorf("a page of the dictionary compressed to %d of %d bytes: the window does not reach it", len(c), len(pages[0]))
	}
	got, err := decodeStated(d.dec, comp, nil, uint32(len(big)))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("round trip failed: %v", err)
	}
}

func TestPlainEncoderHistoryFitsItsInput(t *testing.T) {
	enc, err := newPlainEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// A content-defined chunk at its largest: random bytes, the second
	// half a repeat of the first, which the encoder finds only through
	// its history (zstd blocks are 128 KiB).
	r := rand.New(rand.NewPCG(1, 2))
	half := make([]byte, 128<<10)
	for i := range half {
		half[i] = byte(r.Uint32())
	}
	chunk := append(bytes.Clone(half), half...)
	var comp []byte
	if n := allocated(func() { comp = enc.EncodeAll(chunk, nil) }); n > encoderBudget {
		t.Errorf("the plain encoder allocated %.1f MiB for one %d-byte chunk, want at most %.1f MiB", float64(n)/(1<<20), len(chunk), float64(encoderBudget)/(1<<20))
	}
	if len(comp) > len(chunk)*6/10 {
		t.Errorf("a chunk made of one half twice compressed to %d of %d bytes: the repeat was not found", len(comp), len(chunk))
	}
	_, dec := zstdCodecs()
	if got, err := decodeStated(dec, comp, nil, uint32(len(chunk))); err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("round trip failed: %v", err)
	}
}

// TestPlainEncoderStateHoldsOneChunk: the plain encoder keeps one state a
// core for the life of the process, each with a history of its window
// and a block (docs/benchmarks.md, "Thirtieth session"). A 1 MiB window
// held 0.5 MiB a core more than the largest blob it usually compresses
// (a dictionary, 256 KiB and a header) needs: 1.53 MiB for one state,
// 1.03 MiB with 512 KiB.
func TestPlainEncoderStateHoldsOneChunk(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	enc, err := newPlainEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	r := rand.New(rand.NewPCG(3, 4))
	chunk := make([]byte, 256<<10)
	for i := range chunk {
		chunk[i] = byte(r.Uint32())
	}
	// Room for the frame, so that only the encoder's state is counted.
	out := make([]byte, 0, len(chunk)+1<<10)
	const budget = 5 << 18 // 1.25 MiB
	if n := allocated(func() { enc.EncodeAll(chunk, out) }); n > budget {
		t.Errorf("one plain encoder state took %.2f MiB for its first %d-byte chunk, want at most %.2f MiB", float64(n)/(1<<20), len(chunk), float64(budget)/(1<<20))
	}
}

// retained is how many bytes of heap fn leaves live, the objects it
// returns through keep included (measured after a collection each side).
func retained(fn func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc < before.HeapAlloc {
		return 0, keep
	}
	return after.HeapAlloc - before.HeapAlloc, keep
}

// A dictionary's encoders live as long as it is the writer's: in a first
// backup pages alone take dictLevel (the first dictBulkAfter of a delta)
// and dictBulkLevel, groups groupLevel. An encoder per use held a third
// set of SpeedDefault tables (~3 MiB a core) beside the one the pages
// alone use at the same level.
func TestDictEncodersOnePerLevel(t *testing.T) {
	pages := textPages(5, 3000, 70)
	content := bytes.Join(pages[:64], nil)
	group := bytes.Join(pages[64:70], nil)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	// Every encoder of a level is busy at once (two pages compressed
	// together), so each makes and keeps its tables and history.
	useAll := func(enc *zstd.Encoder, in []byte) {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { enc.EncodeAll(in, nil) })
		}
		wg.Wait()
	}
	n, keep := retained(func() any {
		d, err := parseDict(crypt.ID{9}, encodeDict(1, 500, dictKindRaw, content))
		if err != nil {
			t.Fatal(err)
		}
		for _, bulk := range []bool{false, true} {
			enc, err := d.encoder(bulk)
			if err != nil {
				t.Fatal(err)
			}
			useAll(enc, pages[65])
		}
		enc, err := d.groupEncoder()
		if err != nil {
			t.Fatal(err)
		}
		useAll(enc, group)
		return d
	})
	d := keep.(*dictionary)
	levels := map[zstd.EncoderLevel]bool{}
	for _, l := range []zstd.EncoderLevel{dictLevel, dictBulkLevel, groupLevel} {
		levels[l] = true
	}
	// Per level and core: SpeedDefault's tables and the dictionary's copy
	// of them 2.5 MiB, SpeedFastest's 0.5 MiB; a history of the window
	// and a block, 0.6 MiB; the block encoder's buffers.
	budget := uint64(0)
	for l := range levels {
		tables := uint64(5 << 19)
		if l == zstd.SpeedFastest {
			tables = 1 << 19
		}
		budget += 2 * (tables + 1<<20)
	}
	t.Logf("kept %.2f MiB, budget %.2f MiB", float64(n)/(1<<20), float64(budget)/(1<<20))
	if n > budget {
		t.Errorf("a dictionary's encoders at %d levels keep %.1f MiB, want at most %.1f MiB", len(levels), float64(n)/(1<<20), float64(budget)/(1<<20))
	}
	if groupLevel == dictLevel {
		a, _ := d.encoder(false)
		b, _ := d.groupEncoder()
		if a != b {
			t.Error("groups and pages alone at the same level have encoders of their own")
		}
	}
	runtime.KeepAlive(d)
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/cputime"
)

// BenchmarkDictChoices measures what each way of making a dictionary
// gives on a real SQLite database: which pages make its content, its
// size, raw or trained, and the encoder level. Each sub-benchmark
// compresses every page not in the dictionary's content, one EncodeAll
// each as the writer does, and reports their ratio (of plain size) and
// the CPU time a page takes (process user + system time, one core).
//
//	CHATSAFE_DICT_DB=/tmp/w/corpus/databases/msgstore.db \
//	  go test -run '^$' -bench DictChoices -benchtime 2x ./store
//
// Without CHATSAFE_DICT_DB it builds a small chat database of its own.
func BenchmarkDictChoices(b *testing.B) {
	pages := benchDBPages(b)
	b.Logf("%d pages of %d bytes", len(pages), len(pages[0]))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	type choice struct {
		name  string
		pick  func(pages [][]byte, size int) []int
		size  int
		kind  byte
		level zstd.EncoderLevel
	}
	var choices []choice
	for _, lv := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		for _, size := range []int{128 << 10, 256 << 10, 512 << 10, 1 << 20} {
			choices = append(choices,
				choice{"first", pickFirst, size, dictKindRaw, lv},
				choice{"spread", pickSpread, size, dictKindRaw, lv},
				choice{"spread-squeezed", pickSpread, size, dictKindRaw + 10, lv})
		}
		choices = append(choices, choice{"spread-leaves", pickSpreadLeaves, 256 << 10, dictKindRaw, lv})
		choices = append(choices, choice{"spread-trained", pickSpread, 256 << 10, dictKindZstd, lv},
			choice{"first-trained", pickFirst, 256 << 10, dictKindZstd, lv})
	}
	choices = append(choices, choice{"first", pickFirst, 256 << 10, dictKindRaw, zstd.SpeedBetterCompression},
		choice{"spread-squeezed", pickSpread, 256 << 10, dictKindRaw + 10, zstd.SpeedBetterCompression})
	for _, c := range choices {
		b.Run(fmt.Sprintf("%s/%dK/%s", c.name, c.size>>10, c.level), func(b *testing.B) {
			picked := c.pick(pages, c.size)
			in := map[int]bool{}
			for _, i := range picked {
				in[i] = true
			}
			var content []byte
			kind := c.kind
			switch c.kind {
			case dictKindRaw:
				content = rawContent(pages, picked, c.size, false)
			case dictKindRaw + 10:
				content, kind = rawContent(pages, picked, c.size, true), dictKindRaw
			case dictKindZstd:
				var samples [][]byte
				for _, i := range picked {
					samples = append(samples, pages[i])
				}
				start := time.Now()
				var err error
				content, err = dict.BuildZstdDict(samples, dict.Options{MaxDictSize: c.size, HashBytes: 6, ZstdDictID: 7, ZstdLevel: c.level})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "train-ms")
			}
			d := &dictionary{id: crypt.ID{7}, kind: kind, content: content}
			enc, err := zstd.NewWriter(nil, d.encoderOptions(c.level)...)
			if err != nil {
				b.Fatal(err)
			}
			var plain, comp int
			var buf []byte
			b.ResetTimer()
			cpu0 := processCPU(b)
			for range b.N {
				plain, comp = 0, 0
				for i, p := range pages {
					if in[i] {
						continue
					}
					buf = enc.EncodeAll(p, buf[:0])
					plain += len(p)
					comp += min(len(buf), len(p))
				}
			}
			b.StopTimer()
			cpu := processCPU(b) - cpu0
			n := len(pages) - len(in)
			b.ReportMetric(float64(comp)/float64(plain), "ratio")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/page")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// pickFirst is the pages the writer samples today: the first ones.
func pickFirst(pages [][]byte, size int) []int {
	var out []int
	for i := 0; i < len(pages) && len(out)*len(pages[0]) < size; i++ {
		out = append(out, i)
	}
	return out
}

// pickSpread is pages spread evenly over the whole file.
func pickSpread(pages [][]byte, size int) []int {
	n := min(size/len(pages[0])+1, len(pages))
	var out []int
	for k := range n {
		out = append(out, k*len(pages)/n)
	}
	return out
}

// pickSpreadLeaves is leaf pages (of tables and indexes) spread evenly
// over the file: the pages rows and index keys are in.
func pickSpreadLeaves(pages [][]byte, size int) []int {
	var leaves [][]byte
	var at []int
	for i, p := range pages {
		h := p
		if i == 0 {
			h = p[100:]
		}
		if h[0] == 0x0d || h[0] == 0x0a {
			leaves = append(leaves, p)
			at = append(at, i)
		}
	}
	var out []int
	for _, k := range pickSpread(leaves, size) {
		out = append(out, at[k])
	}
	return out
}

// rawContent joins the picked pages up to size bytes; squeezed drops runs
// of 16 or more zero bytes (free space), so more of them fit.
func rawContent(pages [][]byte, picked []int, size int, squeezed bool) []byte {
	var content []byte
	for _, i := range picked {
		p := pages[i]
		if squeezed {
			p = squeezeZeros(p)
		}
		if len(content)+len(p) > size {
			p = p[:size-len(content)]
		}
		content = append(content, p...)
		if len(content) == size {
			break
		}
	}
	return content
}

// benchDBPages returns the pages of CHATSAFE_DICT_DB, or of a small chat
// database it builds.
func benchDBPages(tb testing.TB) [][]byte {
	path := os.Getenv("CHATSAFE_DICT_DB")
	if path == "" {
		path = filepath.Join(tb.TempDir(), "chat.db")
		buildChatDB(tb, path, 30_000)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT data FROM sqlite_dbpage ORDER BY pgno")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var pages [][]byte
	// CHATSAFE_DICT_PAGES=N: the first N pages only (for valgrind
	// --tool=callgrind, whose instruction counts the machine's load does
	// not move, but which runs ~50 times slower).
	limit, _ := strconv.Atoi(os.Getenv("CHATSAFE_DICT_PAGES"))
	for rows.Next() && (limit <= 0 || len(pages) < limit) {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			tb.Fatal(err)
		}
		pages = append(pages, p)
	}
	if err := rows.Err(); err != nil || len(pages) < 100 {
		tb.Fatalf("reading %s: %d pages, %v", path, len(pages), err)
	}
	return pages
}

// buildChatDB writes a chat database of n messages: a message table in
// id order and an index over (chat, ts), as a messaging app keeps.
func buildChatDB(tb testing.TB, path string, n int) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE messages(id INTEGER PRIMARY KEY, chat INTEGER, sender INTEGER, body TEXT, ts INTEGER, media TEXT);
		CREATE INDEX messages_chat_ts ON messages(chat, ts)`); err != nil {
		tb.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the a to and I you it is that of in for on we be have are not this with was at do so but just what all me can get if my your will like about know no up out now there one go how see time think when then they back good yes ok thanks haha tomorrow tonight today later dinner lunch coffee meeting home work call photo")
	ts := int64(1_600_000_000_000)
	for i := range n {
		var sb strings.Builder
		for range 3 + r.IntN(30) {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte(' ')
		}
		ts += 1 + r.Int64N(90_000)
		var media any
		if r.IntN(12) == 0 {
			media = fmt.Sprintf("media/IMG-%08d.jpg", i)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages VALUES(?, ?, ?, ?, ?, ?)`, i, 1+int(300*r.Float64()*r.Float64()), r.IntN(50), sb.String(), ts, media); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// squeezeZeros returns p without its runs of 16 or more zero bytes: a
// database page's free space, which a raw dictionary would spend its
// bytes on without anything to match (a run of zeros matches itself).
func squeezeZeros(p []byte) []byte {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		if p[i] != 0 {
			out = append(out, p[i])
			i++
			continue
		}
		j := i
		for j < len(p) && p[j] == 0 {
			j++
		}
		if j-i < 16 {
			out = append(out, p[i:j]...)
		} else {
			out = append(out, p[i:i+16]...) // one run's worth stays for zstd to match
		}
		i = j
	}
	return out
}

// processCPU is the process's user and system CPU so far: on a shared
// machine a benchmark's wall time measures the neighbours too.
func processCPU(tb testing.TB) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

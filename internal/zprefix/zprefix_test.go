package zprefix_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/chatsafe/chatsafe/internal/zprefix"
)

const dictID = 0x5eed

// text returns n bytes of page-like text from a small vocabulary, with
// some random bytes between the words, so that frames made with a
// dictionary of the same kind match into it.
func text(seed uint64, n int) []byte {
	words := []string{"message", "chat", "2026-12-06", "Alice", "Bob", "hello", "see you", "INSERT", "media/IMG_", ".jpg", "\x00\x00\x01", "thread"}
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		if r.IntN(4) == 0 {
			b = append(b, byte(r.Uint32()), byte(r.Uint32()))
		}
	}
	return b[:n]
}

func encoder(t testing.TB, level zstd.EncoderLevel, dict []byte, crc bool) *zstd.Encoder {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(512<<10), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(crc),
		zstd.WithEncoderDictRaw(dictID, dict))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// streamed encodes in with enc as a stream: for an input larger than a
// block (128 KiB), the frame states no content size (its header goes out
// before the size is known).
func streamed(t testing.TB, enc *zstd.Encoder, in []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc.Reset(&buf)
	if _, err := enc.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func plainDecoder(t testing.TB) *zstd.Decoder {
	t.Helper()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

func dictDecoder(t testing.TB, dict []byte) *zstd.Decoder {
	t.Helper()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderDictRaw(dictID, dict))
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// Every level the store compresses at, dictionaries from 8 bytes (the
// smallest klauspost takes) to two raw blocks and more, frames from empty
// to 256 KiB (a group): the rewritten frame decodes to the original
// input, as the dictionary decoder does, after dst's bytes.
func TestDecodeAllMatchesDictionaryDecoder(t *testing.T) {
	plain := plainDecoder(t)
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		for _, dsize := range []int{8, 4096, 130 << 10, 256 << 10} {
			dict := text(uint64(dsize), dsize)
			enc := encoder(t, level, dict, false)
			ref := dictDecoder(t, dict)
			d := zprefix.New(dictID, dict)
			for _, n := range []int{0, 1, 4096, 64 << 10, 256 << 10} {
				t.Run(fmt.Sprintf("%v/dict%d/n%d", level, dsize, n), func(t *testing.T) {
					in := text(uint64(n)+7, n)
					frame := enc.EncodeAll(in, nil)
					want, err := ref.DecodeAll(frame, make([]byte, 0, n))
					if err != nil || !bytes.Equal(want, in) {
						t.Fatalf("the dictionary decoder: %v", err)
					}
					dst := []byte("before")
					got, err := d.DecodeAll(plain, frame, dst, n)
					if n < dsize/4 {
						// An empty frame names no dictionary, and one much
						// smaller than the dictionary is not worth it.
						if !errors.Is(err, zprefix.ErrNotRewritten) {
							t.Fatalf("got %v, want ErrNotRewritten", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(got, []byte("before")) || !bytes.Equal(got[len("before"):], in) {
						t.Fatalf("decoded %d bytes, not the input's %d after dst's", len(got)-len("before"), n)
					}
				})
			}
		}
	}
}

// What lands past dst's length is decoded in its spare capacity, and
// dst's own bytes stay.
func TestDecodeAllInPlace(t *testing.T) {
	dict := text(1, 64<<10)
	in := text(2, 100<<10)
	frame := encoder(t, zstd.SpeedDefault, dict, false).EncodeAll(in, nil)
	buf := make([]byte, 3, 3+len(dict)+len(in))
	copy(buf, "abc")
	got, err := zprefix.New(dictID, dict).DecodeAll(plainDecoder(t), frame, buf, len(in))
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &buf[0] || string(got[:3]) != "abc" || !bytes.Equal(got[3:], in) {
		t.Fatal("not decoded in dst's capacity, after its bytes")
	}
}

// Frames that are not one plain frame with the dictionary's id are not
// rewritten: the caller's dictionary decoder gets them.
func TestDecodeAllLeavesOtherFrames(t *testing.T) {
	dict := text(3, 4096)
	in := text(4, 8192)
	frame := encoder(t, zstd.SpeedDefault, dict, false).EncodeAll(in, nil)
	withCRC := encoder(t, zstd.SpeedDefault, dict, true).EncodeAll(in, nil)
	noDict, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		frame []byte
		n     int
	}{
		"another magic":            {append([]byte{0x29}, frame[1:]...), len(in)},
		"a checksum":               {withCRC, len(in)},
		"no dictionary":            {noDict.EncodeAll(in, nil), len(in)},
		"another content size":     {frame, len(in) + 1},
		"a byte after it":          {append(bytes.Clone(frame), 0), len(in)},
		"two frames":               {append(bytes.Clone(frame), frame...), len(in)},
		"cut short":                {frame[:len(frame)-1], len(in)},
		"header only":              {frame[:6], len(in)},
		"a reserved header bit":    {flip(frame, 4, 1<<3), len(in)},
		"another dictionary":       {zprefixFrameWithID(t, dict, in, dictID+1), len(in)},
		"a negative length":        {frame, -1},
		"a reserved block type":    {reservedBlock(frame), len(in)},
		"nothing":                  {nil, 0},
		"the magic and one byte":   {frame[:5], len(in)},
		"small for its dictionary": {zprefixFrameWithID(t, dict, in[:1000], dictID), 1000},
	}
	d := zprefix.New(dictID, dict)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := d.DecodeAll(plainDecoder(t), c.frame, nil, c.n); !errors.Is(err, zprefix.ErrNotRewritten) {
				t.Fatalf("got %v, want ErrNotRewritten", err)
			}
		})
	}
}

func flip(b []byte, i int, bit byte) []byte {
	b = bytes.Clone(b)
	b[i] ^= bit
	return b
}

func zprefixFrameWithID(t *testing.T, dict, in []byte, id uint32) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithEncoderDictRaw(id, dict))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(in, nil)
}

// reservedBlock sets the first block's type to 3 (reserved). The frame's
// header is 4 (magic) + 1 (descriptor) + 2 (the id 0x5eed) + 2 (an 8 KiB
// content size) bytes.
func reservedBlock(frame []byte) []byte {
	b := bytes.Clone(frame)
	if b[4] != 0x62 { // single segment, 2-byte id and size
		panic(fmt.Sprintf("header descriptor %#x", b[4]))
	}
	b[9] |= 3 << 1
	return b
}

// A frame without a content size (a streamed one) that decodes to more or
// fewer than n bytes is an error, not a result, and nothing past the
// destination's room is written.
func TestDecodeAllWrongLength(t *testing.T) {
	dict := text(5, 4096)
	in := text(6, 300<<10) // more than a block: the header goes out before the size is known
	frame := streamed(t, encoder(t, zstd.SpeedFastest, dict, false), in)
	d := zprefix.New(dictID, dict)
	got, err := d.DecodeAll(plainDecoder(t), frame, nil, len(in))
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("a streamed frame: %v", err)
	}
	for _, n := range []int{len(in) - 1, len(in) + 1, len(in) / 2} {
		if _, err := d.DecodeAll(plainDecoder(t), frame, nil, n); err == nil || errors.Is(err, zprefix.ErrNotRewritten) {
			t.Fatalf("n=%d of %d: got %v, want a decoding error", n, len(in), err)
		}
	}
}

// Frames changed anywhere never panic; a result is n bytes, and where the
// dictionary decoder decodes the same frame, the same bytes.
func FuzzDecodeAll(f *testing.F) {
	dict := text(7, 6000)
	for i, n := range []int{0, 100, 5000, 70000} {
		in := text(uint64(i), n)
		f.Add(encoder(f, zstd.SpeedFastest, dict, false).EncodeAll(in, nil), n)
		f.Add(encoder(f, zstd.SpeedBetterCompression, dict, false).EncodeAll(in, nil), n)
	}
	d := zprefix.New(dictID, dict)
	plain, ref := plainDecoder(f), dictDecoder(f, dict)
	f.Fuzz(func(t *testing.T, frame []byte, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		got, err := d.DecodeAll(plain, frame, nil, n)
		if err != nil {
			return
		}
		if len(got) != n {
			t.Fatalf("%d bytes, want %d", len(got), n)
		}
		if want, err := ref.DecodeAll(frame, make([]byte, 0, n)); err == nil && !bytes.Equal(got, want) {
			t.Fatal("decoded otherwise than the dictionary decoder")
		}
	})
}

// A group of 64 pages (256 KiB) with a 256 KiB dictionary at
// SpeedBetterCompression, as a first backup's groups.
func BenchmarkDecodeGroup(b *testing.B) {
	benchDecode(b, zstd.SpeedBetterCompression, 256<<10, 256<<10)
}

// Frames from a quarter of the dictionary's size (the least rewritten)
// up: against the dictionary decoder, what the rewrite's two copies of
// the dictionary cost.
func BenchmarkDecodeShare(b *testing.B) {
	for _, ds := range []int{4 << 10, 64 << 10, 256 << 10} {
		for _, n := range []int{ds / 4, ds, 2 * ds} {
			b.Run(fmt.Sprintf("dict%dK/%dK", ds>>10, n>>10), func(b *testing.B) { benchDecode(b, zstd.SpeedDefault, ds, n) })
		}
	}
}

func benchDecode(b *testing.B, level zstd.EncoderLevel, dsize, n int) {
	dict := text(8, dsize)
	in := text(9, n)
	frame := encoder(b, level, dict, false).EncodeAll(in, nil)
	buf := make([]byte, 0, n)
	b.Run("dictionary-decoder", func(b *testing.B) {
		dec := dictDecoder(b, dict)
		b.SetBytes(int64(n))
		for b.Loop() {
			if _, err := dec.DecodeAll(frame, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rewritten", func(b *testing.B) {
		d, dec := zprefix.New(dictID, dict), plainDecoder(b)
		b.SetBytes(int64(n))
		for b.Loop() {
			if _, err := d.DecodeAll(dec, frame, buf[:0], n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Frames made by hand with what the encoder rarely writes: an RLE block,
// a one-byte content size (single segment), a two-byte one (+256), a
// one-byte and a four-byte dictionary id. Each decodes as the
// dictionary decoder decodes it.
func TestDecodeAllHandMadeFrames(t *testing.T) {
	content := []byte("dictionary content")
	block := func(last, typ uint32, size int) []byte {
		h := last | typ<<1 | uint32(size)<<3
		return []byte{byte(h), byte(h >> 8), byte(h >> 16)}
	}
	magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
	raw := bytes.Repeat([]byte("xyz"), 100)
	cases := map[string]struct {
		id    uint32
		frame []byte
		n     int
	}{
		"RLE, one-byte size and id":  {7, cat(magic, []byte{0x21, 7, 200}, block(1, 1, 200), []byte{'a'}), 200},
		"raw, two-byte size":         {7, cat(magic, []byte{0x61, 7, 300 - 256, 0}, block(1, 0, 300), raw), 300},
		"raw then RLE, four-byte id": {0x01020304, cat(magic, []byte{0xa3, 4, 3, 2, 1, 44, 1, 0, 0}, block(0, 0, 300), raw, block(1, 1, 0), []byte{'b'}), 300},
	}
	plain := plainDecoder(t)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderDictRaw(c.id, content))
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.DecodeAll(c.frame, nil)
			if err != nil || len(want) != c.n {
				t.Fatalf("the dictionary decoder: %d bytes, %v", len(want), err)
			}
			got, err := zprefix.New(c.id, content).DecodeAll(plain, c.frame, nil, c.n)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("rewritten: %v", err)
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Frames made with one- and four-byte dictionary ids decode rewritten.
func TestDecodeAllIDSizes(t *testing.T) {
	dict := text(11, 4096)
	in := text(12, 20000)
	for _, id := range []uint32{7, 0x01020304} {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithEncoderDictRaw(id, dict))
		if err != nil {
			t.Fatal(err)
		}
		got, err := zprefix.New(id, dict).DecodeAll(plainDecoder(t), enc.EncodeAll(in, nil), nil, len(in))
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("id %#x: %v", id, err)
		}
	}
}

// A destination with room for the frame but not for the dictionary as
// well gets the frame appended, its own bytes kept.
func TestDecodeAllRoomForFrameOnly(t *testing.T) {
	dict := text(13, 64<<10)
	in := text(14, 100<<10)
	frame := encoder(t, zstd.SpeedDefault, dict, false).EncodeAll(in, nil)
	dst := append(make([]byte, 0, 3+len(in)+len(dict)/2), "abc"...)
	got, err := zprefix.New(dictID, dict).DecodeAll(plainDecoder(t), frame, dst, len(in))
	if err != nil || string(got[:3]) != "abc" || !bytes.Equal(got[3:], in) {
		t.Fatalf("%v", err)
	}
}

// n too large for a frame (with or without a content size stated) is
// left to the dictionary decoder, never a panic.
func TestDecodeAllHugeN(t *testing.T) {
	dict := text(15, 4096)
	frame := streamed(t, encoder(t, zstd.SpeedFastest, dict, false), text(16, 300<<10))
	d := zprefix.New(dictID, dict)
	for _, n := range []int{math.MaxInt, math.MaxInt - 100, math.MaxUint32, math.MaxUint32 - 4096 + 1} {
		if _, err := d.DecodeAll(plainDecoder(t), frame, nil, n); !errors.Is(err, zprefix.ErrNotRewritten) {
			t.Fatalf("n=%d: got %v, want ErrNotRewritten", n, err)
		}
	}
}

// Decoded in the destination's spare capacity, whatever room it has past
// the result: the result is right, dst's own bytes stay, and nothing past
// the dictionary, the frame and the slack (32 bytes) is written.
func TestDecodeAllInPlaceBounds(t *testing.T) {
	dict := text(21, 64<<10)
	in := text(22, 200<<10) // two blocks: the last one ends at the room's edge
	frame := encoder(t, zstd.SpeedDefault, dict, false).EncodeAll(in, nil)
	d, total := zprefix.New(dictID, dict), len(dict)+len(in)
	for _, extra := range []int{0, 1, 31, 32, 64, 4096} {
		buf := make([]byte, 3+total+extra)
		for i := range buf {
			buf[i] = 0xA5
		}
		copy(buf, "abc")
		got, err := d.DecodeAll(plainDecoder(t), frame, buf[:3], len(in))
		if err != nil || string(got[:3]) != "abc" || !bytes.Equal(got[3:], in) {
			t.Fatalf("room %d past the result: %v", extra, err)
		}
		if &got[0] != &buf[0] {
			t.Fatalf("room %d past the result: not decoded in dst's capacity", extra)
		}
		for i := 3 + total + 32; i < len(buf); i++ {
			if buf[i] != 0xA5 {
				t.Fatalf("room %d past the result: byte %d past the end written", extra, i-3-total)
			}
		}
	}
}

// A streamed frame (no content size) longer or shorter than n, with room
// to spare in the destination, is an error there too.
func TestDecodeAllInPlaceWrongLength(t *testing.T) {
	dict := text(23, 4096)
	in := text(24, 300<<10)
	frame := streamed(t, encoder(t, zstd.SpeedFastest, dict, false), in)
	d := zprefix.New(dictID, dict)
	dst := make([]byte, 0, len(dict)+len(in)+4096)
	for _, n := range []int{len(in) - 1, len(in) - 32, len(in) + 1} {
		if _, err := d.DecodeAll(plainDecoder(t), frame, dst, n); err == nil || errors.Is(err, zprefix.ErrNotRewritten) {
			t.Fatalf("n=%d of %d: got %v, want a decoding error", n, len(in), err)
		}
	}
}

// Room is what DecodeAll needs past a destination's length to decode in
// place with its slack (TestDecodeAllInPlaceBounds shows what it does
// with that room); a destination with less decodes too, in place on the
// bounds-exact path or in a pooled buffer. An n DecodeAll declines has
// no room.
func TestRoom(t *testing.T) {
	dict := text(25, 64<<10)
	in := text(26, 100<<10)
	frame := encoder(t, zstd.SpeedDefault, dict, false).EncodeAll(in, nil)
	d := zprefix.New(dictID, dict)
	room := d.Room(len(in))
	if room != len(dict)+len(in)+32 {
		t.Fatalf("room %d for %d bytes with a %d-byte dictionary", room, len(in), len(dict))
	}
	for _, c := range []int{room, room - 1, room - 33, 0} {
		buf := make([]byte, 0, c)
		got, err := d.DecodeAll(plainDecoder(t), frame, buf, len(in))
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("capacity %d: %v", c, err)
		}
	}
	small := len(dict)/4 - 1
	if d.Room(small) != 0 || d.Room(-1) != 0 || d.Room(math.MaxUint32) != 0 {
		t.Fatal("room for an n DecodeAll declines")
	}
	if _, err := d.DecodeAll(plainDecoder(t), frame, nil, small); !errors.Is(err, zprefix.ErrNotRewritten) {
		t.Fatalf("n below a quarter of the dictionary: %v", err)
	}
}

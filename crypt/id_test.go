package crypt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"

	"github.com/zeebo/blake3"
)

func TestIDHasherKnownAnswer(t *testing.T) {
	// BLAKE3 official test vector (test_vectors.json, input_len 0,
	// keyed_hash): ids must be standard keyed BLAKE3 so other tools can
	// recompute them.
	var key [32]byte
	copy(key[:], "whats the Elvish word for friend")
	got := NewIDHasher(key).Sum(nil)
	want := "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"
	if got.String() != want {
		t.Fatalf("keyed BLAKE3 of empty input = %s, want %s", got, want)
	}
}

func TestIDHasherMatchesBlake3(t *testing.T) {
	key := testKey(t).Subkey(PurposeBlobID)
	h := NewIDHasher(key)
	for _, size := range []int{0, 1, 64, 1024, 1025, 4096, 65536, 1 << 20} {
		data := bytes.Repeat([]byte{byte(size), 1, 2}, size/3+1)[:size]
		ref, err := blake3.NewKeyed(key[:])
		if err != nil {
			t.Fatal(err)
		}
		ref.Write(data)
		want := ref.Sum(nil)
		// Twice: a pooled hasher must be reset between uses.
		for range 2 {
			got := h.Sum(data)
			if !bytes.Equal(got[:], want) {
				t.Fatalf("size %d: Sum = %x, want %x", size, got, want)
			}
		}
	}
}

func TestIDHasherKeyed(t *testing.T) {
	k := testKey(t)
	data := []byte("a photo")
	a := NewIDHasher(k.Subkey(PurposeBlobID)).Sum(data)
	b := NewIDHasher(k.Subkey(PurposeState)).Sum(data)
	if a == b {
		t.Fatal("different keys gave the same id")
	}
	if a == ID(blake3.Sum256(data)) {
		t.Fatal("id equals the unkeyed BLAKE3 hash")
	}
	if NewIDHasher(k.Subkey(PurposeBlobID)).Sum(data) != a {
		t.Fatal("the same key gave a different id")
	}
	if NewIDHasher(k.Subkey(PurposeBlobID)).Sum([]byte("a photo.")) == a {
		t.Fatal("different data gave the same id")
	}
}

func TestIDString(t *testing.T) {
	id := NewIDHasher([32]byte{1}).Sum([]byte("x"))
	s := id.String()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s) {
		t.Fatalf("ID.String() = %q, want 64 lowercase hex digits", s)
	}
	if s != hex.EncodeToString(id[:]) {
		t.Fatal("ID.String() is not the hex of the id")
	}
}

func TestIDHasherConcurrent(t *testing.T) {
	key := testKey(t).Subkey(PurposeBlobID)
	h := NewIDHasher(key)
	inputs := make([][]byte, 16)
	want := make([]ID, len(inputs))
	for i := range inputs {
		inputs[i] = bytes.Repeat([]byte{byte(i)}, 500*i+1)
		want[i] = NewIDHasher(key).Sum(inputs[i])
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for r := range 200 {
				i := (g + r) % len(inputs)
				if h.Sum(inputs[i]) != want[i] {
					done <- errors.New("concurrent Sum returned a wrong id")
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Under -race sync.Pool drops a quarter of Puts on purpose; each drop costs
// one Clone, which AllocsPerRun's integer average still rounds to 0, while a
// per-call allocation in Sum would show as 1 or more.
func TestIDHasherAllocs(t *testing.T) {
	h := NewIDHasher([32]byte{3})
	data := make([]byte, 4096)
	h.Sum(data) // warm the pool
	if n := testing.AllocsPerRun(100, func() { h.Sum(data) }); n > 0 {
		t.Fatalf("Sum allocates %.1f times per call, want 0", n)
	}
}

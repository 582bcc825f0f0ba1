package crypt

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// eachCipher runs test with an AEAD of every cipher under the test key.
func eachCipher(t *testing.T, test func(*testing.T, *AEAD)) {
	for _, c := range Ciphers() {
		t.Run(c.String(), func(t *testing.T) { test(t, testAEAD(t, c)) })
	}
}

func testAEAD(t testing.TB, c Cipher) *AEAD {
	t.Helper()
	a, err := testKey(t).SealAEAD(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAEADRoundTrip(t *testing.T) { eachCipher(t, testAEADRoundTrip) }

func testAEADRoundTrip(t *testing.T, a *AEAD) {
	ad := AssociatedData("chunk", [16]byte{1, 2, 3}, []byte("id"))
	for _, size := range []int{0, 1, 15, 16, 17, 64, 4096, 65536 + 3} {
		pt := bytes.Repeat([]byte{byte(size)}, size)
		sealed := a.Seal(nil, pt, ad)
		if len(sealed) != size+Overhead {
			t.Fatalf("size %d: sealed length %d, want %d", size, len(sealed), size+Overhead)
		}
		if size >= 16 && bytes.Contains(sealed, pt[:16]) {
			t.Fatalf("size %d: sealed output contains plaintext", size)
		}
		got, err := a.Open(nil, sealed, ad)
		if err != nil {
			t.Fatalf("size %d: Open: %v", size, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("size %d: Open returned different plaintext", size)
		}
	}
}

func TestAEADAppendsToDst(t *testing.T) { eachCipher(t, testAEADAppendsToDst) }

func testAEADAppendsToDst(t *testing.T, a *AEAD) {
	prefix := []byte("header:")
	dst := append(make([]byte, 0, 100), prefix...)
	sealed := a.Seal(dst, []byte("hello"), nil)
	if !bytes.HasPrefix(sealed, prefix) {
		t.Fatal("Seal did not keep dst's content")
	}
	out, err := a.Open([]byte("out:"), sealed[len(prefix):], nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out:hello" {
		t.Fatalf("Open returned %q, want %q", out, "out:hello")
	}
}

// The sealed format is nonce(24) || XChaCha20-Poly1305 ciphertext and tag, so
// another implementation can open it.
func TestAEADWireFormat(t *testing.T) {
	key := testKey(t).Subkey(PurposeSeal)
	a := NewAEAD(key)
	x, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.Seal(nil, []byte("interop"), []byte("ad"))
	pt, err := x.Open(nil, sealed[:24], sealed[24:], []byte("ad"))
	if err != nil || string(pt) != "interop" {
		t.Fatalf("x/crypto could not open Seal's output: %q, %v", pt, err)
	}
	nonce := bytes.Repeat([]byte{7}, 24)
	other := x.Seal(append([]byte(nil), nonce...), nonce, []byte("back"), nil)
	pt, err = a.Open(nil, other, nil)
	if err != nil || string(pt) != "back" {
		t.Fatalf("Open could not read x/crypto's output: %q, %v", pt, err)
	}
}

func TestAEADSealsDiffer(t *testing.T) { eachCipher(t, testAEADSealsDiffer) }

func testAEADSealsDiffer(t *testing.T, a *AEAD) {
	pt := []byte("same plaintext")
	s1, s2 := a.Seal(nil, pt, nil), a.Seal(nil, pt, nil)
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of the same plaintext are equal")
	}
	if bytes.Equal(s1[:24], s2[:24]) {
		t.Fatal("two seals used the same nonce")
	}
}

func TestAEADRejects(t *testing.T) { eachCipher(t, testAEADRejects) }

func testAEADRejects(t *testing.T, a *AEAD) {
	repo := [16]byte{9}
	ad := AssociatedData("chunk", repo, []byte("id-1"))
	pt := []byte("the quick brown fox jumps over the lazy dog")
	sealed := a.Seal(nil, pt, ad)

	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name   string
		aead   *AEAD
		sealed []byte
		ad     []byte
	}{
		{"wrong kind", a, sealed, AssociatedData("index", repo, []byte("id-1"))},
		{"wrong repo", a, sealed, AssociatedData("chunk", [16]byte{8}, []byte("id-1"))},
		{"wrong id", a, sealed, AssociatedData("chunk", repo, []byte("id-2"))},
		{"nil ad", a, sealed, nil},
		{"wrong key", must(NewCipherAEAD(a.Cipher(), testKey(t).Subkey(PurposeState))), sealed, ad},
		{"other cipher", must(testKey(t).SealAEAD(otherCipher(a.Cipher()))), sealed, ad},
		{"other cipher, same key", must(NewCipherAEAD(otherCipher(a.Cipher()), testKey(t).Subkey(PurposeSeal))), sealed, ad},
		{"flipped nonce byte 0", a, flip(0), ad},
		{"flipped nonce byte 23", a, flip(23), ad},
		{"flipped ciphertext byte", a, flip(24), ad},
		{"flipped last ciphertext byte", a, flip(len(sealed) - 17), ad},
		{"flipped tag byte", a, flip(len(sealed) - 16), ad},
		{"flipped last tag byte", a, flip(len(sealed) - 1), ad},
		{"appended byte", a, append(bytes.Clone(sealed), 0), ad},
		{"nil", a, nil, ad},
		{"empty", a, []byte{}, ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.aead.Open(nil, tt.sealed, tt.ad)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Open = %q, %v; want an error wrapping ErrAuth", out, err)
			}
			if out != nil {
				t.Fatal("a failed Open returned output")
			}
		})
	}
}

func TestAEADTruncated(t *testing.T) { eachCipher(t, testAEADTruncated) }

func testAEADTruncated(t *testing.T, a *AEAD) {
	sealed := a.Seal(nil, []byte("some plaintext worth protecting"), nil)
	for n := range len(sealed) {
		if _, err := a.Open(nil, sealed[:n], nil); !errors.Is(err, ErrAuth) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrAuth", n, err)
		}
		// Dropping bytes from the front must fail as well.
		if _, err := a.Open(nil, sealed[len(sealed)-n:], nil); !errors.Is(err, ErrAuth) {
			t.Fatalf("last %d bytes only: err = %v, want ErrAuth", n, err)
		}
	}
}

func TestAEADConcurrent(t *testing.T) { eachCipher(t, testAEADConcurrent) }

func testAEADConcurrent(t *testing.T, a *AEAD) {
	done := make(chan error)
	for g := range 8 {
		go func() {
			pt := bytes.Repeat([]byte{byte(g)}, 1000)
			for range 50 {
				out, err := a.Open(nil, a.Seal(nil, pt, []byte{byte(g)}), []byte{byte(g)})
				if err != nil {
					done <- err
					return
				}
				if !bytes.Equal(out, pt) {
					done <- errors.New("concurrent round trip returned different plaintext")
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

func TestAssociatedDataInjective(t *testing.T) {
	r1, r2 := [16]byte{1}, [16]byte{2}
	type in struct {
		kind string
		repo [16]byte
		id   []byte
	}
	inputs := []in{
		{"ab", r1, []byte("c")},
		{"a", r1, []byte("bc")},
		{"abc", r1, nil},
		{"", r1, []byte("abc")},
		{"ab", r2, []byte("c")},
		{"", r1, nil},
		{"", r1, []byte{}}, // same as the previous one: nil and empty id are equal
		{"a\x01", r1, []byte("c")},
		{"a", r1, []byte("\x01c")},
		// A kind that spells a length prefix plus repo bytes of another input.
		{"\x01" + string(r1[:]), r1, nil},
		{"", [16]byte{'a', 'b'}, []byte("c")},
		{string(make([]byte, 200)), r1, nil}, // two-byte length prefix
		{string(make([]byte, 199)), r1, []byte{0}},
	}
	seen := map[string]int{}
	for i, x := range inputs {
		ad := string(AssociatedData(x.kind, x.repo, x.id))
		if len(ad) < len("chatsafe/v1") || ad[:len("chatsafe/v1")] != "chatsafe/v1" {
			t.Fatalf("input %d: associated data does not start with chatsafe/v1", i)
		}
		if j, dup := seen[ad]; dup && !(i == 6 && j == 5) {
			t.Errorf("inputs %d and %d give the same associated data", j, i)
		}
		seen[ad] = i
	}
	again := AssociatedData("ab", r1, []byte("c"))
	if string(AssociatedData("ab", r1, []byte("c"))) != string(again) {
		t.Fatal("AssociatedData is not deterministic")
	}
}

func must(a *AEAD, err error) *AEAD {
	if err != nil {
		panic(err)
	}
	return a
}

func otherCipher(c Cipher) Cipher {
	if c == XAES256GCM {
		return XChaCha20Poly1305
	}
	return XAES256GCM
}

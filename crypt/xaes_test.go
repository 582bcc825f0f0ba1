package crypt

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"testing"
)

// The C2SP XAES-256-GCM test vectors (https://c2sp.org/XAES-256-GCM).
func TestXAESVectors(t *testing.T) {
	nonce := []byte("ABCDEFGHIJKLMNOPQRSTUVWX")
	plaintext := []byte("XAES-256-GCM")
	for _, v := range []struct {
		key  byte
		ad   string
		want string // ciphertext ‖ tag
	}{
		{0x01, "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
		{0x03, "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
	} {
		x := newXAES256GCM([32]byte(bytes.Repeat([]byte{v.key}, 32)))
		got := x.Seal(nil, nonce, plaintext, []byte(v.ad))
		if hex.EncodeToString(got) != v.want {
			t.Errorf("key %#x: sealed %x, want %s", v.key, got, v.want)
		}
		pt, err := x.Open(nil, nonce, got, []byte(v.ad))
		if err != nil || !bytes.Equal(pt, plaintext) {
			t.Errorf("key %#x: opened %q, %v", v.key, pt, err)
		}
		// Through the AEAD: the nonce goes in front.
		a, _ := NewCipherAEAD(XAES256GCM, [32]byte(bytes.Repeat([]byte{v.key}, 32)))
		pt, err = a.Open(nil, append(bytes.Clone(nonce), got...), []byte(v.ad))
		if err != nil || !bytes.Equal(pt, plaintext) {
			t.Errorf("key %#x: AEAD opened %q, %v", v.key, pt, err)
		}
	}
}

// TestXAESAccumulated is the spec's accumulated test: keys, nonces,
// plaintexts and associated data read from one SHAKE-128 stream, every
// ciphertext written into another, whose first 32 bytes are given for
// 10,000 and 1,000,000 iterations (the latter skipped with -short).
func TestXAESAccumulated(t *testing.T) {
	iterations, want := 10_000, "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
	if !testing.Short() {
		iterations, want = 1_000_000, "2163ae1445985a30b60585ee67daa55674df06901b890593e824b8a7c885ab15"
	}
	s, d := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	var key [32]byte
	nonce := make([]byte, xaesNonceSize)
	n := make([]byte, 1)
	var pt, ad, ct, out []byte
	for range iterations {
		s.Read(key[:])
		s.Read(nonce)
		s.Read(n)
		pt = append(pt[:0], make([]byte, n[0])...)
		s.Read(pt)
		s.Read(n)
		ad = append(ad[:0], make([]byte, n[0])...)
		s.Read(ad)
		x := newXAES256GCM(key)
		ct = x.Seal(ct[:0], nonce, pt, ad)
		var err error
		if out, err = x.Open(out[:0], nonce, ct, ad); err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("round trip failed: %v", err)
		}
		d.Write(ct)
	}
	got := make([]byte, 32)
	d.Read(got)
	if hex.EncodeToString(got) != want {
		t.Fatalf("%d iterations: %x, want %s", iterations, got, want)
	}
}

// Each cipher seals under its own subkey: a message sealed with one does
// not open with the other, nor with the other's subkey.
func TestSealAEADKeysPerCipher(t *testing.T) {
	k := testKey(t)
	x, err := k.SealAEAD(XAES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.SealAEAD(XChaCha20Poly1305)
	if err != nil {
		t.Fatal(err)
	}
	if x.Cipher() != XAES256GCM || c.Cipher() != XChaCha20Poly1305 {
		t.Fatalf("ciphers %v, %v", x.Cipher(), c.Cipher())
	}
	// XChaCha20-Poly1305 under "seal" is what every repository before
	// config version 3 was sealed with.
	sealed := NewAEAD(k.Subkey(PurposeSeal)).Seal(nil, []byte("old"), nil)
	if pt, err := c.Open(nil, sealed, nil); err != nil || string(pt) != "old" {
		t.Fatalf("XChaCha20-Poly1305 under the seal subkey: %q, %v", pt, err)
	}
	if _, err := x.Open(nil, sealed, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("XAES-256-GCM opened an XChaCha20-Poly1305 message: %v", err)
	}
	xs := x.Seal(nil, []byte("new"), nil)
	if _, err := c.Open(nil, xs, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("XChaCha20-Poly1305 opened an XAES-256-GCM message: %v", err)
	}
	same, _ := NewCipherAEAD(XAES256GCM, k.Subkey(PurposeSeal))
	if _, err := same.Open(nil, xs, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("XAES-256-GCM under the XChaCha20-Poly1305 subkey opened: %v", err)
	}
}

func TestUnknownCipher(t *testing.T) {
	for _, c := range []Cipher{0, 3, 255} {
		if a, err := testKey(t).SealAEAD(c); !errors.Is(err, ErrUnknownCipher) || a != nil {
			t.Errorf("cipher %d: %v, %v; want ErrUnknownCipher", c, a, err)
		}
	}
	if s := Cipher(7).String(); s != "cipher 7" {
		t.Errorf("Cipher(7) = %q", s)
	}
}

const xaesAllocs = 3

// XAES-256-GCM builds a GCM under each message's derived key: with Go's
// public crypto/aes and crypto/cipher that is three allocations a message
// (the derived key, passed to cipher.Block; its AES key schedule; the
// GCM), whatever the message's size.
func TestXAESAllocations(t *testing.T) {
	a := testAEAD(t, XAES256GCM)
	for _, size := range []int{64, 64 << 10} {
		pt := make([]byte, size)
		buf := make([]byte, 0, size+Overhead)
		out := make([]byte, 0, size)
		seal := testing.AllocsPerRun(100, func() { buf = a.Seal(buf[:0], pt, nil) })
		open := testing.AllocsPerRun(100, func() { out, _ = a.Open(out[:0], buf, nil) })
		if seal > xaesAllocs || open > xaesAllocs {
			t.Errorf("%d bytes: %.0f allocations to seal, %.0f to open; want at most %d", size, seal, open, xaesAllocs)
		}
	}
}

// FuzzAEADOpen: Open of any bytes under any associated data, with either
// cipher, opens only the message sealed there, unchanged; everything else
// fails with ErrAuth, never a panic.
func FuzzAEADOpen(f *testing.F) {
	key := Key{7}
	f.Add(byte(1), []byte("plaintext"), []byte("ad"), 0, byte(0))
	f.Add(byte(2), []byte("plaintext"), []byte("ad"), 3, byte(1))
	f.Add(byte(2), []byte{}, []byte{}, 45, byte(0x80))
	f.Add(byte(1), make([]byte, 300), []byte("x"), -1, byte(0))
	f.Fuzz(func(t *testing.T, c byte, pt, ad []byte, cut int, flip byte) {
		a, err := key.SealAEAD(Cipher(c%2 + 1))
		if err != nil {
			t.Fatal(err)
		}
		sealed := a.Seal(nil, pt, ad)
		// cut < 0 keeps the message whole; else it changes the byte at
		// cut (by flip) or, past the end, truncates to cut-len bytes.
		changed := false
		if cut >= 0 {
			if i := cut % (2 * len(sealed)); i < len(sealed) {
				sealed[i] ^= flip
				changed = flip != 0
			} else {
				sealed = sealed[:i-len(sealed)]
				changed = true
			}
		}
		out, err := a.Open(nil, sealed, ad)
		if changed {
			if !errors.Is(err, ErrAuth) || out != nil {
				t.Fatalf("a changed message opened: %q, %v", out, err)
			}
			return
		}
		if err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("the message sealed did not open: %v", err)
		}
	})
}

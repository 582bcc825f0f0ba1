package crypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

var allPurposes = []Purpose{PurposeBlobID, PurposeSeal, PurposeKeyCheck, PurposeOwnerToken, PurposeState}

// hkdfByHand computes HKDF-SHA256 (RFC 5869) for a 32-byte output straight
// from HMAC: PRK = HMAC(salt, IKM) with the default all-zero salt, then
// OKM = T(1) = HMAC(PRK, info || 0x01).
func hkdfByHand(ikm []byte, info string) []byte {
	extract := hmac.New(sha256.New, make([]byte, sha256.Size))
	extract.Write(ikm)
	prk := extract.Sum(nil)
	expand := hmac.New(sha256.New, prk)
	expand.Write([]byte(info))
	expand.Write([]byte{1})
	return expand.Sum(nil)
}

func TestSubkeyMatchesHKDF(t *testing.T) {
	k := testKey(t)
	for _, p := range allPurposes {
		t.Run(string(p), func(t *testing.T) {
			got := k.Subkey(p)
			want := hkdfByHand(k[:], "chatsafe/v1/"+string(p))
			if !hmac.Equal(got[:], want) {
				t.Fatalf("Subkey(%q) = %x, want HKDF-SHA256 %x", p, got, want)
			}
		})
	}
}

func TestSubkeyDistinctAndDeterministic(t *testing.T) {
	k := testKey(t)
	other, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]string{}
	for _, p := range allPurposes {
		a, b := k.Subkey(p), k.Subkey(p)
		if a != b {
			t.Fatalf("Subkey(%q) is not deterministic", p)
		}
		if a == [32]byte(k) {
			t.Fatalf("Subkey(%q) equals the backup key", p)
		}
		if prev, dup := seen[a]; dup {
			t.Fatalf("purposes %q and %q give the same subkey", prev, p)
		}
		seen[a] = string(p)
		if other.Subkey(p) == a {
			t.Fatalf("two backup keys give the same %q subkey", p)
		}
	}
}

func TestMACKnownAnswers(t *testing.T) {
	// RFC 4231 test cases 1 and 2. HMAC zero-pads keys shorter than the
	// block size, so a short key in a [32]byte gives the same MAC.
	var k1, k2 [32]byte
	for i := range 20 {
		k1[i] = 0x0b
	}
	copy(k2[:], "Jefe")
	tests := []struct {
		name string
		key  [32]byte
		data string
		want string
	}{
		{"RFC 4231 case 1", k1, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC 4231 case 2", k2, "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MAC(tt.key, []byte(tt.data))
			if hex.EncodeToString(got[:]) != tt.want {
				t.Fatalf("MAC = %x, want %s", got, tt.want)
			}
		})
	}
	if MAC(k1, []byte("a")) == MAC(k2, []byte("a")) {
		t.Fatal("different keys gave the same MAC")
	}
}

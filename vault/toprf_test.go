package vault

import (
	"bytes"
	"crypto/hpke"
	"fmt"
	"testing"
)

// TestThresholdOPRFCombines deals a key 2 of 3 and 3 of 5 and checks that
// every set of t evaluations, and no set of t-1, gives the password the
// whole key gives; and that a node opens only its own share.
func TestThresholdOPRFCombines(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var nodes []ShareNode
			var keys []hpke.PrivateKey
			for i := range n {
				k, err := ShareKEM().GenerateKey()
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
				nodes = append(nodes, ShareNode{ID: fmt.Sprint(i + 1), PK: k.PublicKey().Bytes()})
			}
			k := NewTOPRFKey()
			want := TOPRFDirect(k, "acct", []byte("pw"))
			shares, th, err := DealShares(k, "acct", nodes, 0)
			if err != nil || th != Threshold(n) {
				t.Fatalf("deal: t=%d %v", th, err)
			}
			b := NewTOPRFBlind("acct", []byte("pw"))
			var evals []Eval
			for i, sh := range shares {
				if n > 1 {
					if _, err := OpenShare(keys[(i+1)%n], "acct", sh, th); err == nil {
						t.Fatal("a node opened another node's share")
					}
				}
				s, err := OpenShare(keys[i], "acct", sh, th)
				if err != nil {
					t.Fatal(err)
				}
				e, err := EvaluateShare(s, b.Blinded)
				if err != nil {
					t.Fatal(err)
				}
				evals = append(evals, Eval{X: sh.X, Element: e})
			}
			for start := range n {
				var set []Eval
				for j := range th {
					set = append(set, evals[(start+j)%n])
				}
				got, err := b.Finish(set)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("shares from %d: combined password differs (%v)", start, err)
				}
				if th > 1 {
					if got, _ := b.Finish(set[:th-1]); bytes.Equal(got, want) {
						t.Fatal("t-1 shares give the password")
					}
				}
			}
			if other := TOPRFDirect(k, "acct", []byte("pw2")); bytes.Equal(other, want) {
				t.Fatal("another password hardens alike")
			}
		})
	}
}

// TestDealSharesKeepsTheVaultsThreshold: a list with fewer nodes than the
// vault has members never lowers the threshold below the vault's, and a
// threshold the list cannot meet is refused rather than lowered.
func TestDealSharesKeepsTheVaultsThreshold(t *testing.T) {
	var nodes []ShareNode
	for i := range 2 {
		k, err := ShareKEM().GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, ShareNode{ID: fmt.Sprint(i + 1), PK: k.PublicKey().Bytes()})
	}
	if _, th, err := DealShares(NewTOPRFKey(), "a", nodes, 2); err != nil || th != 2 {
		t.Fatalf("2 of 2 listed, vault threshold 2: t=%d %v", th, err)
	}
	if _, _, err := DealShares(NewTOPRFKey(), "a", nodes[:1], 2); err == nil {
		t.Fatal("one listed node with a vault threshold of 2 was dealt 1 of 1")
	}
}

// Wipe clears the password and the blind a kept TOPRFBlind holds, and a
// wiped blind refuses to finish rather than derive a wrong pw'.
func TestTOPRFBlindWipe(t *testing.T) {
	b := NewTOPRFBlind("ann", []byte("secret-pw"))
	if _, err := b.Finish(nil); err != nil {
		t.Fatalf("Finish before Wipe: %v", err)
	}
	in := b.input
	b.Wipe()
	if !bytes.Equal(in, make([]byte, len(in))) || bytes.Contains(in, []byte("secret-pw")) {
		t.Fatalf("the input (account and password) survives Wipe: %q", in)
	}
	if !b.r.IsZero() {
		t.Fatal("the blind r survives Wipe")
	}
	if _, err := b.Finish(nil); err == nil {
		t.Fatal("a wiped blind finished")
	}
	var nilBlind *TOPRFBlind
	nilBlind.Wipe()
}

package store_test

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// checkTypos: the right key opens; a key one slip away is named; two
// slips are a wrong key, named nowhere.
func checkTypos(t *testing.T, raw []byte, key crypt.Key) {
	t.Helper()
	if err := store.CheckTypedKey(raw, key); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	for _, e := range []crypt.KeyEdit{{Pos: 17}, {Pos: 0}, {Pos: 63}, {Pos: 30, Swap: true}, {Pos: 3, Swap: true}} {
		k, ok := slip(key, e)
		if !ok {
			continue
		}
		var te *store.KeyTypoError
		err := store.CheckTypedKey(raw, k)
		if !errors.As(err, &te) || te.Edit != e || !errors.Is(err, store.ErrWrongKey) {
			t.Errorf("a key with the slip %v: %v, want a KeyTypoError naming it", e, err)
		}
	}
	one, _ := slip(key, crypt.KeyEdit{Pos: 5})
	two, _ := slip(one, crypt.KeyEdit{Pos: 40})
	var te *store.KeyTypoError
	if err := store.CheckTypedKey(raw, two); !errors.Is(err, store.ErrWrongKey) || errors.As(err, &te) {
		t.Errorf("a key two slips away: %v, want ErrWrongKey naming nothing", err)
	}
}

// slip is key with the slip e made in its recovery key; ok is false for
// a swap of two equal digits, which is no slip.
func slip(key crypt.Key, e crypt.KeyEdit) (k crypt.Key, ok bool) {
	for got, c := range key.OneEditAway() {
		if got == e {
			return c, true
		}
	}
	return key, false
}

// TestCheckTypedKey on a new repository of each cipher (config versions
// 1 and 3) and on a rotated one (the old key is told it was rotated).
func TestCheckTypedKey(t *testing.T) {
	for _, c := range []crypt.Cipher{crypt.XChaCha20Poly1305, crypt.XAES256GCM} {
		t.Run(c.String(), func(t *testing.T) {
			e := storetest.NewEnvCipher(t, c)
			raw, err := store.ReadConfig(t.Context(), e.Remote)
			if err != nil {
				t.Fatal(err)
			}
			checkTypos(t, raw, e.Key)

			newKey, err := crypt.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Store.ResealTo(t.Context(), newKey, []remotes.Remote{e.Remote}); err != nil {
				t.Fatal(err)
			}
			raw, err = store.ReadConfig(t.Context(), e.Remote)
			if err != nil {
				t.Fatal(err)
			}
			checkTypos(t, raw, newKey)
			if err := store.CheckTypedKey(raw, e.Key); !errors.Is(err, store.ErrKeyRotated) {
				t.Errorf("the rotated-away key: %v, want ErrKeyRotated", err)
			}
		})
	}
}

// BenchmarkCheckTypedKeyMiss is the whole search: a key no slip from
// the repository's tries every key one slip away (1023 at most).
func BenchmarkCheckTypedKeyMiss(b *testing.B) {
	key, err := crypt.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	rem := storetest.OpenRemote(b, b.TempDir())
	r, err := store.Init(b.Context(), rem, key, store.Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	r.Close()
	raw, err := store.ReadConfig(b.Context(), rem)
	if err != nil {
		b.Fatal(err)
	}
	wrong, err := crypt.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := store.CheckTypedKey(raw, wrong); !errors.Is(err, store.ErrWrongKey) {
			b.Fatal(err)
		}
	}
}

func TestKeyTypoErrorMessage(t *testing.T) {
	for _, c := range []struct {
		e    crypt.KeyEdit
		want string
	}{
		{crypt.KeyEdit{Pos: 17}, "wrong recovery key: it does not open this repository, but a key differing from it in group 5, digit 2 does: compare that digit with the key you kept"},
		{crypt.KeyEdit{Pos: 17, Swap: true}, "wrong recovery key: it does not open this repository, but a key differing from it by digits 2 and 3 of group 5 swapped does: compare those digits with the key you kept"},
	} {
		if got := (&store.KeyTypoError{Edit: c.e}).Error(); got != c.want {
			t.Errorf("%+v:\n%s\nwant\n%s", c.e, got, c.want)
		}
	}
}

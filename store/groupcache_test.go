package store_test

import (
	"sync"
	"testing"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/store"
)

// TestSmallFetchHandsARepeatedIDOverOnce: a small fetch (a mount's) whose
// ids repeat one that missed the group cache, while another reader puts
// its group in the cache before the repeat comes up, still hands the id
// over once ("every distinct id is in exactly one batch").
func TestSmallFetchHandsARepeatedIDOverOnce(t *testing.T) {
	e, _ := dictEnv(t)
	fresh, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	g := store.Groups(fresh)[1]
	page, mate := g.Members[0], g.Members[1]
	var once sync.Once
	store.SetAfterCacheMiss(t, func(crypt.ID) {
		// Another reader opens the group (and caches it) meanwhile.
		once.Do(func() {
			if _, err := store.ReadBlob(e.Ctx, fresh, mate); err != nil {
				t.Error(err)
			}
		})
	})
	var mu sync.Mutex
	got := map[crypt.ID]int{}
	err = fresh.FetchBatches(e.Ctx, []crypt.ID{page, page}, func(b *store.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range b.IDs {
			got[id]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[page] != 1 || len(got) != 1 {
		t.Fatalf("a page asked for twice was handed over %d times (%d ids in all), want once", got[page], len(got))
	}
}

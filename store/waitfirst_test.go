package store_test

import (
	"errors"
	"testing"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestSecondTargetTellsTheFirstRemotesCheckFromItsOwnFailure: while what
// was backed up without the first remote is unchecked, a second remote's
// sync starts with that check, and its failure is the first remote's
// (ErrAwaitsFirstRemote: the daemon shows it on the first remote's line
// and waits); a failure of the second remote itself is not, so that its
// own error is shown and counted (a backup through the daemon exits 5).
func TestSecondTargetTellsTheFirstRemotesCheckFromItsOwnFailure(t *testing.T) {
	o := newOfflineRepo(t)
	r := o.openThenStop(t)
	second := store.NewTarget("nas", storetest.OpenRemote(t, t.TempDir()))
	broken := store.BrokenTarget("usb", errors.New("no such drive"))
	r.SetTargets([]*store.Target{store.NewTarget("first", o.rem), second, broken})
	o.change(t, 500)
	if res, err := backup.Run(t.Context(), r, backup.Options{Source: o.src}); err != nil || res.Unchanged {
		t.Fatalf("a backup without the first remote: %v %+v", err, res)
	}
	err := r.SyncTarget(t.Context(), second, store.SyncHooks{})
	if !errors.Is(err, store.ErrAwaitsFirstRemote) || !errors.Is(err, remotes.ErrUnreachable) {
		t.Errorf("the second remote's sync with the first out of reach: %v, want ErrAwaitsFirstRemote and ErrUnreachable", err)
	}
	err = r.SyncTarget(t.Context(), broken, store.SyncHooks{})
	if err == nil || errors.Is(err, store.ErrAwaitsFirstRemote) {
		t.Errorf("a second remote's own failure: %v, want its error, not ErrAwaitsFirstRemote", err)
	}
}

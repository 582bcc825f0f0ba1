package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// TestBackupSyncFailureSaysTheTruth: a backup whose upload failed says
// the snapshot will be uploaded later only when a later try can: not
// when the repository was taken over or failed an integrity check (exit
// 7, 6), which stop every later backup's upload too.
func TestBackupSyncFailureSaysTheTruth(t *testing.T) {
	for _, c := range []struct {
		err   error
		later bool
	}{
		{fmt.Errorf("listing r0: %w", remotes.ErrUnreachable), true},
		{&store.TakenOverError{Hostname: "phone"}, false},
		{fmt.Errorf("checking r0: %w", store.ErrIntegrity), false},
		{fmt.Errorf("uploading: %w", store.ErrFork), false},
	} {
		err := syncFailed(c.err)
		if exitCode(err) != exitCode(c.err) {
			t.Errorf("%v: exit %d, want %d", err, exitCode(err), exitCode(c.err))
		}
		if got := strings.Contains(err.Error(), "will be uploaded"); got != c.later {
			t.Errorf("%v: says it will be uploaded: %v, want %v", err, got, c.later)
		}
		if !strings.Contains(err.Error(), "saved locally") {
			t.Errorf("%v: does not say the snapshot is saved locally", err)
		}
	}
}

package instance

import (
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/vault"
)

// TestVaultNoticeKeepsFirstSeen: a notice keeps when this device first
// learned of the wrong passwords while they are not reset, starts again
// after a reset, and is kept in the state directory as it was made.
func TestVaultNoticeKeepsFirstSeen(t *testing.T) {
	t1 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	n := noticeOf(vault.HeadAccount{Failed: 2, Left: 8}, VaultNotice{}, t1)
	if n.Since != t1 || !strings.Contains(n.Warning(), "2 wrong passwords were tried") || !strings.Contains(n.Warning(), "8 attempts left") {
		t.Fatalf("first news: %+v %q", n, n.Warning())
	}
	if n = noticeOf(vault.HeadAccount{Failed: 3, Left: 7}, n, t2); n.Since != t1 {
		t.Fatalf("more wrong passwords moved the first time: %+v", n)
	}
	if n = noticeOf(vault.HeadAccount{Left: 10}, n, t2); n.Bad() || !n.Since.IsZero() || n.Warning() != "" {
		t.Fatalf("after the password worked: %+v %q", n, n.Warning())
	}
	n = noticeOf(vault.HeadAccount{Erased: true, Failed: 10}, n, t3)
	if n.Since != t3 || !strings.Contains(n.Warning(), "password recovery no longer works") {
		t.Fatalf("erased: %+v %q", n, n.Warning())
	}
	dir := t.TempDir()
	if _, ok, err := LoadVaultNotice(dir); ok || err != nil {
		t.Fatalf("nothing kept yet: %v, %v", ok, err)
	}
	if err := saveVaultNotice(dir, n); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := LoadVaultNotice(dir); !ok || err != nil || got != n {
		t.Fatalf("kept %+v, read back %+v (%v, %v)", n, got, ok, err)
	}
}

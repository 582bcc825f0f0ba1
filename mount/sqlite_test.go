//go:build linux

package mount_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/browse"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/mount"
)

// TestMountSQLiteOpensWithSQLiteCLI: the WAL-mode database in a snapshot
// opens with the sqlite3 command right in the read-only mount, as
// docs/browse.md says: no -shm can be made there, so a database in WAL
// mode could not be read without file:...?immutable=1.
func TestMountSQLiteOpensWithSQLiteCLI(t *testing.T) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 command (scripts/test installs it: apt-get install sqlite3)")
	}
	e := storetest.NewEnv(t)
	dbPath := filepath.Join(e.Src, "msgstore.db")
	db := storetest.OpenChatDB(t, dbPath)
	db.Insert(0, 1234, 500)
	e.Backup()
	dir := startMount(t, e.Store, mount.Options{})

	mounted := filepath.Join(dir, "latest", "msgstore.db")
	out, err := exec.Command(cli, mounted, "select count(*) from messages").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1234" {
		t.Fatalf("sqlite3 %s: %q, %v; want 1234 rows", mounted, out, err)
	}
	// Nothing was left beside it, and the file is the stored database but
	// for the two bytes that say WAL: the rest is what dump gives.
	if ents, err := os.ReadDir(filepath.Join(dir, "latest")); err != nil || len(ents) != 1 {
		t.Errorf("latest/ after sqlite3: %v %v", ents, err)
	}
	got, err := os.ReadFile(mounted)
	if err != nil {
		t.Fatal(err)
	}
	dumped := dumpFile(t, e, "msgstore.db")
	if dumped[18] != 2 || dumped[19] != 2 {
		t.Fatalf("the stored database is not in WAL mode (bytes 18-19: %d %d): the test needs one", dumped[18], dumped[19])
	}
	if got[18] != 1 || got[19] != 1 {
		t.Errorf("bytes 18-19 in the mount: %d %d, want 1 1 (rollback mode)", got[18], got[19])
	}
	if len(got) != len(dumped) || !bytes.Equal(got[:18], dumped[:18]) || !bytes.Equal(got[20:], dumped[20:]) {
		t.Errorf("the mounted database differs from the stored one beyond bytes 18-19")
	}
}

// TestMountLeavesOtherFilesAlone: a plain file that starts like a SQLite
// header (a copy of a database kept as a file) is served byte for byte.
func TestMountLeavesOtherFilesAlone(t *testing.T) {
	e := storetest.NewEnv(t)
	data := append([]byte("SQLite format 3\x00\x10\x00\x02\x02"), storetest.RandBytes(3, 8000)...)
	storetest.WriteFile(t, filepath.Join(e.Src, "notes.bin"), data)
	e.Backup()
	dir := startMount(t, e.Store, mount.Options{})
	got, err := os.ReadFile(filepath.Join(dir, "latest", "notes.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("notes.bin through the mount differs from the source (%v)", err)
	}
}

// dumpFile is the file at rel in the latest snapshot, as dump gives it.
func dumpFile(t *testing.T, e *storetest.Env, rel string) []byte {
	t.Helper()
	s, err := e.Store.FindSnapshot("latest")
	if err != nil {
		t.Fatal(err)
	}
	n, err := browse.Lookup(t.Context(), e.Store, s, rel)
	if err != nil {
		t.Fatal(err)
	}
	f, err := browse.Open(t.Context(), e.Store, &n)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

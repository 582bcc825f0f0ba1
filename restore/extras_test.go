package restore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// extrasEnv backs up a.txt, media/x.jpg and media/voice/n.opus, and makes
// a target that holds, besides an older a.txt, what that snapshot does
// not: files, a directory, and symlinks out of the target and into it.
// outside is a directory beside the target that the symlinks point into.
func extrasEnv(t *testing.T) (e *storetest.Env, dst, outside string) {
	t.Helper()
	e = storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a, new"))
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "x.jpg"), []byte("photo x"))
	storetest.WriteFile(t, filepath.Join(e.Src, "media", "voice", "n.opus"), []byte("voice"))
	if err := os.Chmod(filepath.Join(e.Src, "media"), 0o750); err != nil {
		t.Fatal(err)
	}
	e.Backup()

	parent := t.TempDir()
	dst = filepath.Join(parent, "target")
	outside = filepath.Join(parent, "outside")
	storetest.WriteFile(t, filepath.Join(parent, "beside.txt"), []byte("beside the target"))
	storetest.WriteFile(t, filepath.Join(outside, "secret.jpg"), []byte("not the target's"))
	for name, data := range map[string]string{
		"a.txt":                "a, old",
		"old.txt":              "old",
		"media/old.jpg":        "old photo",
		"media/sub/deep.jpg":   "deep",
		"media/voice/old.opus": "old voice",
		"junk/x.jpg":           "junk photo",
		"junk/y.txt":           "junk text",
	} {
		storetest.WriteFile(t, filepath.Join(dst, name), []byte(data))
	}
	for link, target := range map[string]string{
		"out":          outside,          // out of the target
		"media/sub2":   outside,          // out of the target, named like a media directory
		"media/inlink": "../media/voice", // into the target, at a directory of the snapshot
	} {
		if err := os.Symlink(target, filepath.Join(dst, link)); err != nil {
			t.Fatal(err)
		}
	}
	return e, dst, outside
}

// runForce restores the newest snapshot into dst with Force and opts.
func runForce(t *testing.T, e *storetest.Env, dst string, opts restore.Options) *restore.Result {
	t.Helper()
	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	opts.Target, opts.Force = dst, true
	res, err := restore.Run(e.Ctx, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// untouchedOutside checks that nothing outside the target changed.
func untouchedOutside(t *testing.T, dst, outside string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(outside, "secret.jpg")); err != nil || string(b) != "not the target's" {
		t.Errorf("a file a symlink in the target points at was changed: %q, %v", b, err)
	}
	if got := files(t, outside); got != "secret.jpg" {
		t.Errorf("the directory symlinks point at holds %s, want secret.jpg alone", got)
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(dst), "beside.txt")); err != nil || string(b) != "beside the target" {
		t.Errorf("a file beside the target was changed: %q, %v", b, err)
	}
}

// TestRestoreForceReportsExtras: a restore with Force keeps what the
// snapshot does not hold, and reports it: counted, the first named.
func TestRestoreForceReportsExtras(t *testing.T) {
	e, dst, outside := extrasEnv(t)
	res := runForce(t, e, dst, restore.Options{})
	want := []string{"junk/x.jpg", "junk/y.txt", "media/inlink", "media/old.jpg", "media/sub/deep.jpg", "media/sub2", "media/voice/old.opus", "old.txt", "out"}
	if !slices.Equal(res.Extra, want) || res.ExtraFiles != len(want) || res.ExtraDirs != 2 || res.Deleted {
		t.Errorf("extras %v (%d files, %d directories, deleted %v), want %v (%d files, 2 directories)", res.Extra, res.ExtraFiles, res.ExtraDirs, res.Deleted, want, len(want))
	}
	// What was there, and the snapshot's media/x.jpg and media/voice/n.opus.
	keep := "a.txt junk/ junk/x.jpg junk/y.txt media/ media/inlink media/old.jpg media/sub/ media/sub/deep.jpg media/sub2 media/voice/ media/voice/n.opus media/voice/old.opus media/x.jpg old.txt out"
	if got := files(t, dst); got != keep {
		t.Errorf("a restore without --delete left\n %s\nwant\n %s", got, keep)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "a, new" {
		t.Errorf("a.txt restored as %q", b)
	}
	untouchedOutside(t, dst, outside)

	// With filters, only what they select counts.
	res = runForce(t, e, dst, restore.Options{Include: []string{"media"}, Exclude: []string{"*.opus"}})
	want = []string{"media/inlink", "media/old.jpg", "media/sub/deep.jpg", "media/sub2"}
	if !slices.Equal(res.Extra, want) || res.ExtraDirs != 1 {
		t.Errorf("--include media --exclude '*.opus': extras %v, %d directories; want %v, 1", res.Extra, res.ExtraDirs, want)
	}
}

// TestRestoreDelete: with Delete the target ends up holding what a new
// directory would; the symlinks are removed, never followed, and nothing
// outside the target is touched.
func TestRestoreDelete(t *testing.T) {
	e, dst, outside := extrasEnv(t)
	fresh, err := e.RestoreFresh("")
	if err != nil {
		t.Fatal(err)
	}
	res := runForce(t, e, dst, restore.Options{Delete: true})
	if got, want := files(t, dst), files(t, fresh); got != want {
		t.Errorf("after --delete the target holds\n %s\nthe snapshot\n %s", got, want)
	}
	if res.ExtraFiles != 9 || res.ExtraDirs != 2 || !res.Deleted {
		t.Errorf("deleted %d files and %d directories (%v), want 9 and 2", res.ExtraFiles, res.ExtraDirs, res.Extra)
	}
	untouchedOutside(t, dst, outside)
	// The restored directories still got their modes and times.
	if fi, _ := os.Stat(filepath.Join(dst, "media")); fi.Mode().Perm() != 0o750 {
		t.Errorf("media has mode %v after --delete, want the snapshot's 0750", fi.Mode().Perm())
	}
}

// TestRestoreDeleteKeepsWhatFiltersLeaveOut: Delete removes only what the
// filters select; a directory that keeps something stays, and a symlink
// the snapshot names as a directory is not looked into.
func TestRestoreDeleteKeepsWhatFiltersLeaveOut(t *testing.T) {
	e, dst, outside := extrasEnv(t)
	res := runForce(t, e, dst, restore.Options{Delete: true, Include: []string{"*.jpg"}})
	// Deleted: every *.jpg the snapshot lacks, and media/sub, emptied.
	// Kept: junk (y.txt stays in it), the symlinks, *.txt, *.opus.
	want := "a.txt junk/ junk/y.txt media/ media/inlink media/sub2 media/voice/ media/voice/old.opus media/x.jpg old.txt out"
	if got := files(t, dst); got != want {
		t.Errorf("--delete --include '*.jpg' left\n %s\nwant\n %s", got, want)
	}
	if res.ExtraFiles != 3 || res.ExtraDirs != 1 {
		t.Errorf("deleted %d files, %d directories (%v), want 3 and 1", res.ExtraFiles, res.ExtraDirs, res.Extra)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a.txt")); string(b) != "a, old" {
		t.Errorf("a.txt, left out by the filters, is %q", b)
	}
	untouchedOutside(t, dst, outside)

	// media, a directory of the snapshot, is a symlink out of the target
	// here, and the filters leave it out: neither it nor what it points
	// at is touched.
	dst2 := filepath.Join(filepath.Dir(dst), "target2")
	storetest.WriteFile(t, filepath.Join(dst2, "stale.txt"), []byte("stale"))
	if err := os.Symlink(outside, filepath.Join(dst2, "media")); err != nil {
		t.Fatal(err)
	}
	res = runForce(t, e, dst2, restore.Options{Delete: true, Include: []string{"a.txt", "*.txt"}})
	if got := files(t, dst2); got != "a.txt media" {
		t.Errorf("the target holds %s, want a.txt media", got)
	}
	if !slices.Equal(res.Extra, []string{"stale.txt"}) {
		t.Errorf("deleted %v, want stale.txt", res.Extra)
	}
	untouchedOutside(t, dst, outside)
}

// TestRestoreDeleteNeedsForce: Delete without Force is refused before
// anything is written.
func TestRestoreDeleteNeedsForce(t *testing.T) {
	e, dst, _ := extrasEnv(t)
	before := files(t, dst)
	_, err := restore.Run(e.Ctx, e.Store, restore.Options{Target: dst, Delete: true})
	if !errors.Is(err, restore.ErrDeleteWithoutForce) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Delete without Force: %v, want ErrDeleteWithoutForce", err)
	}
	if after := files(t, dst); after != before {
		t.Errorf("a refused restore changed the target:\n %s\n %s", before, after)
	}
}

// TestRestoreDeleteKeepsWhatTheBackupExcludes: the config's exclude:
// leaves paths out of every backup, so no snapshot holds them; a restore
// with Delete over the live folder keeps them (the only copy), counts
// them apart from the extras, and still deletes a real extra.
func TestRestoreDeleteKeepsWhatTheBackupExcludes(t *testing.T) {
	e := storetest.NewEnv(t)
	cfg := &configs.Config{Exclude: []string{"*.tmp", "cache/"}}
	live := map[string]string{
		"a.txt":           "a",
		"draft.tmp":       "a draft, never backed up",
		"cache/thumb.jpg": "a thumbnail, never backed up",
		"media/x.jpg":     "photo x",
		"media/y.tmp":     "half a download, never backed up",
	}
	for name, data := range live {
		storetest.WriteFile(t, filepath.Join(e.Src, name), []byte(data))
	}
	if _, err := backup.Run(e.Ctx, e.Store, backup.Options{Source: e.Src, Exclude: cfg.Excluded}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "live")
	for name, data := range live {
		storetest.WriteFile(t, filepath.Join(dst, name), []byte(data))
	}
	storetest.WriteFile(t, filepath.Join(dst, "stale.txt"), []byte("stale"))
	storetest.WriteFile(t, filepath.Join(dst, "media", "stale.jpg"), []byte("stale photo"))

	res := runForce(t, e, dst, restore.Options{BackupExclude: cfg.Excluded})
	wantKept := []string{"cache", "draft.tmp", "media/y.tmp"}
	if !slices.Equal(res.Extra, []string{"media/stale.jpg", "stale.txt"}) || !slices.Equal(res.Kept, wantKept) || res.KeptFiles != 2 || res.KeptDirs != 1 {
		t.Errorf("without --delete: extras %v, kept %v (%d files, %d directories); want the two stale files, and %v (2 files, 1 directory)",
			res.Extra, res.Kept, res.KeptFiles, res.KeptDirs, wantKept)
	}
	res = runForce(t, e, dst, restore.Options{Delete: true, BackupExclude: cfg.Excluded})
	want := "a.txt cache/ cache/thumb.jpg draft.tmp media/ media/x.jpg media/y.tmp"
	if got := files(t, dst); got != want {
		t.Errorf("--delete with the config's exclude: left\n %s\nwant\n %s", got, want)
	}
	for name, data := range live {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != data {
			t.Errorf("%s is %q (%v) after --delete, want %q", name, b, err, data)
		}
	}
	if !slices.Equal(res.Extra, []string{"media/stale.jpg", "stale.txt"}) || res.ExtraFiles != 2 || !slices.Equal(res.Kept, wantKept) {
		t.Errorf("--delete: deleted %v (%d), kept %v; want the two stale files, and %v", res.Extra, res.ExtraFiles, res.Kept, wantKept)
	}
}

// commitUnread commits, a minute after e's newest snapshot, that snapshot
// again with unread as its Incomplete paths: what a backup that could not
// read them commits (each keeps its earlier version, or is absent).
func commitUnread(t *testing.T, e *storetest.Env, unread []store.Omission) {
	t.Helper()
	snaps := e.Store.Snapshots()
	snap := snaps[len(snaps)-1]
	snap.Time = snap.Time.Add(time.Minute)
	snap.Incomplete = unread
	w, err := e.Store.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit(snap)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Sync(e.Ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreDeleteKeepsWhatTheBackupCouldNotRead: a file the backup
// could not read, with no earlier version, is absent from the snapshot
// and named in its Incomplete list; a directory it could not list keeps
// its earlier entries. A restore with Delete over the live folder keeps
// both the file and what the directory holds now.
func TestRestoreDeleteKeepsWhatTheBackupCouldNotRead(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a"))
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "x.jpg"), []byte("photo x"))
	e.Backup()
	// The next backup could read neither msgstore.db (new, so the
	// snapshot lacks it) nor Media (it keeps Media's earlier tree): what
	// the backup commits then.
	commitUnread(t, e, []store.Omission{
		{Path: "Media", Reason: "open Media: permission denied"},
		{Path: "msgstore.db", Reason: "open msgstore.db: permission denied"},
	})
	dst := filepath.Join(t.TempDir(), "live")
	live := map[string]string{
		"a.txt":          "a",
		"msgstore.db":    "the only copy of the messages",
		"Media/x.jpg":    "photo x",
		"Media/new.jpg":  "a photo received since",
		"Media/d/in.jpg": "in a directory made since",
	}
	for name, data := range live {
		storetest.WriteFile(t, filepath.Join(dst, name), []byte(data))
	}
	storetest.WriteFile(t, filepath.Join(dst, "stale.txt"), []byte("stale"))

	res := runForce(t, e, dst, restore.Options{Delete: true})
	if got, want := files(t, dst), "Media/ Media/d/ Media/d/in.jpg Media/new.jpg Media/x.jpg a.txt msgstore.db"; got != want {
		t.Errorf("--delete over paths the backup could not read left\n %s\nwant\n %s", got, want)
	}
	for name, data := range live {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != data {
			t.Errorf("%s is %q (%v) after --delete, want %q", name, b, err, data)
		}
	}
	wantKept := []string{"Media/d", "Media/new.jpg", "msgstore.db"}
	if !slices.Equal(res.Extra, []string{"stale.txt"}) || !slices.Equal(res.Kept, wantKept) || res.KeptFiles != 2 || res.KeptDirs != 1 {
		t.Errorf("deleted %v, kept %v (%d files, %d directories); want stale.txt, and %v (2 files, 1 directory)", res.Extra, res.Kept, res.KeptFiles, res.KeptDirs, wantKept)
	}
}

// TestRestoreDeleteRefusedPastTheOmissionCap: a snapshot lists at most
// store.MaxOmissions unreadable paths, so one that lists that many may
// lack others the backup could not read either, each the only copy in the
// live folder. Delete cannot tell them from real extras: it is refused
// before anything is written, and the target is left as it was.
func TestRestoreDeleteRefusedPastTheOmissionCap(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a"))
	e.Backup()
	var unread []store.Omission
	for i := range store.MaxOmissions + 1 {
		unread = append(unread, store.Omission{Path: fmt.Sprintf("Media/unread-%04d.jpg", i), Reason: "permission denied"})
	}
	commitUnread(t, e, unread)
	dst := filepath.Join(t.TempDir(), "live")
	// The last omission is past the cap: the snapshot does not name it.
	last := fmt.Sprintf("Media/unread-%04d.jpg", store.MaxOmissions)
	storetest.WriteFile(t, filepath.Join(dst, "a.txt"), []byte("a, older"))
	storetest.WriteFile(t, filepath.Join(dst, last), []byte("the only copy"))
	before := files(t, dst)

	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = restore.Run(e.Ctx, r, restore.Options{Target: dst, Force: true, Delete: true})
	if !errors.Is(err, restore.ErrDeleteUnsafe) || !strings.Contains(err.Error(), "without --delete") {
		t.Errorf("--delete with a snapshot at the omission cap: %v, want ErrDeleteUnsafe saying to restore without --delete", err)
	}
	if after := files(t, dst); after != before {
		t.Errorf("a refused restore changed the target:\n %s\n %s", before, after)
	}
	if b, err := os.ReadFile(filepath.Join(dst, last)); err != nil || string(b) != "the only copy" {
		t.Errorf("%s, unlisted and unread by the backup: %q, %v", last, b, err)
	}
}

// TestRestoreDeleteRefusedForACutPath: a snapshot records each unreadable
// path cut at 4096 bytes (docs/format.md), and a cut path names nothing in
// the target: the file the backup could not read would count as an extra,
// the only copy deleted. Delete is refused for such a snapshot too.
func TestRestoreDeleteRefusedForACutPath(t *testing.T) {
	e := storetest.NewEnv(t)
	storetest.WriteFile(t, filepath.Join(e.Src, "a.txt"), []byte("a"))
	e.Backup()
	long := strings.Repeat(strings.Repeat("d", 200)+"/", 25) + "unread.jpg"
	commitUnread(t, e, []store.Omission{{Path: long, Reason: "permission denied"}})
	dst := filepath.Join(t.TempDir(), "live")
	storetest.WriteFile(t, filepath.Join(dst, "a.txt"), []byte("a, older"))
	before := files(t, dst)

	r, err := e.OpenFresh(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Snapshots(); len(got[len(got)-1].Incomplete) != 1 || got[len(got)-1].Incomplete[0].Path == long {
		t.Fatalf("the snapshot's unread path was not cut: %v", got[len(got)-1].Incomplete)
	}
	_, err = restore.Run(e.Ctx, r, restore.Options{Target: dst, Force: true, Delete: true})
	if !errors.Is(err, restore.ErrDeleteUnsafe) || !strings.Contains(err.Error(), "without --delete") {
		t.Errorf("--delete with a snapshot naming an unread path cut short: %v, want ErrDeleteUnsafe saying to restore without --delete", err)
	}
	if after := files(t, dst); after != before {
		t.Errorf("a refused restore changed the target:\n %s\n %s", before, after)
	}
}

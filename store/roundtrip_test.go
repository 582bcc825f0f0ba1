package store_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatsafe/chatsafe/internal/storetest"
	"github.com/chatsafe/chatsafe/store"
)

// TestSpoiledFramesAreNeverStored: a frame the compressor got wrong (here
// every one, a byte flipped in each) never reaches the repository. A
// blob stored so would be lost for good: dedup never writes its id again,
// and only a restore or check --read-data would find it. Every kind of
// compressed blob is covered: pages with the dictionary, alone and in
// groups, pages on their previous version, plain zstd (a settings file,
// trees, lists, the dictionary itself), and the blobs a key rotation
// seals again. Every snapshot restores byte for byte and passes check
// --read-data.
func TestSpoiledFramesAreNeverStored(t *testing.T) {
	stop := store.SpoilFrames(t)
	e, logs := loggedEnv(t)
	db := firstDictBackup(t, e) // as dictEnv, logged
	first := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	settings := bytes.Repeat([]byte("<string name=\"theme\">dark</string>\n"), 400)
	storetest.WriteFile(t, filepath.Join(e.Src, "shared_prefs", "settings.xml"), settings)
	editScattered(t, db, 40, 4000, 1)
	e.Backup()
	second := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))

	dirs := restoreEverySnapshot(t, e, first, second)
	if got, err := os.ReadFile(filepath.Join(dirs[1], "shared_prefs", "settings.xml")); err != nil || !bytes.Equal(got, settings) {
		t.Fatalf("settings file restored wrong: %v", err)
	}

	// A key rotation compresses again the pages stored with a dictionary
	// alone: a backup with a sound compressor stores some, then the
	// rotation runs with a spoiled one.
	stop()
	db.Insert(4000, 4100, 500)
	e.Backup()
	third := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	store.SpoilFrames(t)
	rotated := logs.Len()
	newKey := rotateKey(t, e)
	if got, err := restoreDigest(t, e, newKey); err != nil || got != third {
		t.Fatalf("restore after a key rotation: %v (digest %s, want %s)", err, got, third)
	}
	// Each kind of frame was spoiled, caught and stored another way; the
	// first is a warning (then at most one an hour).
	kinds := map[string]int{}
	for i, l := range logs.All() {
		if strings.Contains(l.Message, "did not decode back") {
			kinds[l.ContextMap()["compression"].(string)]++
			if i >= rotated && l.ContextMap()["compression"] == "zstd with a dictionary" {
				kinds["rotation"]++ // resealWithDict's own check
			}
		}
	}
	for _, k := range []string{"zstd", "zstd with a dictionary", "a group with a dictionary", "zstd on the previous version", "rotation"} {
		if kinds[k] == 0 {
			t.Errorf("no spoiled frame of kind %q caught (caught: %v)", k, kinds)
		}
	}
	warned := 0
	for _, l := range logs.All()[:rotated] {
		if l.Level == zap.WarnLevel && strings.Contains(l.Message, "did not decode back") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings in three backups, want 1 (the rest at debug)", warned)
	}
}

// TestRewriteSpoiledFramesAreNeverStored: readers decode groups and
// pages on a base through internal/zprefix, so the check before sealing
// decodes them that way too. Here every frame zprefix decodes comes out
// wrong without an error, as a bug in the rewrite or in the assembly
// decoder would: no such frame is stored, every snapshot restores byte
// for byte and passes check --read-data, and the failure is warned about.
func TestRewriteSpoiledFramesAreNeverStored(t *testing.T) {
	store.SpoilRewrites(t)
	e, logs := loggedEnv(t)
	db := firstDictBackup(t, e)
	first := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	editScattered(t, db, 40, 4000, 1)
	e.Backup()
	second := storetest.DBDigest(t, filepath.Join(e.Src, "msgstore.db"))
	restoreEverySnapshot(t, e, first, second)

	kinds := map[string]int{}
	for _, l := range logs.All() {
		if strings.Contains(l.Message, "did not decode back") {
			kinds[l.ContextMap()["compression"].(string)]++
		}
	}
	for _, k := range []string{"a group with a dictionary", "zstd on the previous version"} {
		if kinds[k] == 0 {
			t.Errorf("no frame of kind %q caught (caught: %v)", k, kinds)
		}
	}
	rewriteWarnings := 0
	for _, l := range logs.FilterLevelExact(zap.WarnLevel).All() {
		if strings.Contains(l.Message, "through internal/zprefix") {
			rewriteWarnings++
		}
	}
	if rewriteWarnings != 1 {
		t.Errorf("%d warnings about zprefix, want 1 (then at most one an hour)", rewriteWarnings)
	}
}

// loggedEnv is a storetest.Env whose store logs into logs.
func loggedEnv(t *testing.T) (*storetest.Env, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e := storetest.NewEnv(t)
	e.Store.Close()
	var err error
	if e.Store, err = store.Open(e.Ctx, e.Remote, e.Key, store.Options{StateDir: e.State, Log: zap.New(core)}); err != nil {
		t.Fatal(err)
	}
	return e, logs
}

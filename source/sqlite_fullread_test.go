package source

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSQLiteWholeReadAfterPeriod: a database read incrementally is read
// whole once the last whole read is more than a day old (the default
// sync.full_read_every), changed or not, and incrementally again after.
// A page an incremental rule ever carried wrongly (docs/sqlite.md, "Still
// open") is then wrong for a day at most.
func TestSQLiteWholeReadAfterPeriod(t *testing.T) {
	a := newChatApp(t)
	a.scan("first backup")
	a.msgs(5)
	a.incremental("messages")
	a.later = 23 * time.Hour
	a.msgs(5)
	a.incremental("23 h later")
	a.later = 25 * time.Hour
	a.msgs(5)
	a.wholeBecause("25 h later", "last whole read more than")
	a.msgs(5)
	a.incremental("messages after the whole read")
	// Unchanged since: the stat alone would skip it.
	a.later = 50 * time.Hour
	a.wholeBecause("a day later, unchanged", "last whole read more than")
}

// TestSQLiteWholeReadEveryOption: Options.FullReadEvery sets the period.
func TestSQLiteWholeReadEveryOption(t *testing.T) {
	a := newChatApp(t)
	a.every = 2 * time.Hour
	a.scan("first backup")
	a.later = time.Hour
	a.msgs(5)
	a.incremental("an hour later")
	a.later = 3 * time.Hour
	a.msgs(5)
	a.wholeBecause("3 h later", "last whole read more than")
	a.msgs(5)
	a.incremental("messages after the whole read")
}

// TestWholeReadsDue: a database comes due between 7/8 of the period and
// the period after its last whole read, at the same point every time;
// databases at different paths at different points.
func TestWholeReadsDue(t *testing.T) {
	const every = 24 * time.Hour
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	points := map[time.Duration]bool{}
	for _, rel := range []string{"msgstore.db", "wa.db", "axolotl.db", "chatsettings.db", "media.db", "sub/msgstore.db"} {
		r := wholeReads{now: now, every: every, rel: rel}
		if why := r.due(now.Add(-every)); why == "" {
			t.Errorf("%s: not due a whole period after its last whole read", rel)
		}
		if why := r.due(now.Add(-every * 7 / 8).Add(time.Second)); why != "" {
			t.Errorf("%s: due before 7/8 of the period: %s", rel, why)
		}
		if why := r.due(now.Add(-time.Hour)); why != "" {
			t.Errorf("%s: due an hour after its last whole read: %s", rel, why)
		}
		if why := r.due(now.Add(5 * time.Minute)); why != "" {
			t.Errorf("%s: due after the clock went back five minutes: %s", rel, why)
		}
		// A clock set back by more than a few minutes makes the time since
		// the last whole read unknown: waiting for the clock to catch up
		// would stretch the bound by as much as the clock went back.
		if why := r.due(now.Add(time.Hour)); !strings.Contains(why, "clock was set back") {
			t.Errorf("%s: the clock back an hour: %q", rel, why)
		}
		if why := r.due(now.Add(every)); !strings.Contains(why, "clock was set back") {
			t.Errorf("%s: the clock back a period: %q", rel, why)
		}
		if why := r.due(time.Time{}); !strings.Contains(why, "no whole read recorded") {
			t.Errorf("%s: never recorded: %q", rel, why)
		}
		s := spread(rel, every)
		if s != spread(rel, every) || s < 0 || s >= every/8 {
			t.Errorf("%s: spread %s", rel, s)
		}
		points[s] = true
	}
	if len(points) < 4 {
		t.Errorf("6 databases come due at %d points only", len(points))
	}
}

// TestSQLiteWholeReadOldCache: a file cache written before the time of the
// last whole read was recorded counts it as due: the first read after the
// upgrade is whole, the next incremental.
func TestSQLiteWholeReadOldCache(t *testing.T) {
	a := newChatApp(t)
	a.scan("first backup")
	a.msgs(5)
	a.incremental("messages")
	saveAsBeforeWholeRead(t, a.cachePath)
	a.msgs(5)
	a.wholeBecause("after the upgrade", "no whole read recorded")
	a.msgs(5)
	a.incremental("messages after the upgrade")
}

// incremental scans, and checks the read was incremental and restores to
// every message committed.
func (a *chatApp) incremental(name string) {
	a.t.Helper()
	if whys := a.scan(name); !a.k.incr["msgstore.db"] {
		a.t.Fatalf("%s: the read was whole because %q", name, whys)
	}
	a.restored(name)
}

// entryBeforeWholeRead is cacheEntry as the versions before the time of
// the last whole read wrote it.
type entryBeforeWholeRead struct {
	Kind     Kind
	ID       statID
	WalID    statID
	Mode     fs.FileMode
	Size     int64
	PageSize int
	DBHeader bool
	Token    []byte
	Mark     *walMark
	Reread   bool
}

// saveAsBeforeWholeRead rewrites the v3 cache file at path as those
// versions wrote it.
func saveAsBeforeWholeRead(t *testing.T, path string) {
	t.Helper()
	c, err := LoadFileCache(path)
	if err != nil || c.loadWarning != nil {
		t.Fatalf("load the cache: %v, %v", err, c.loadWarning)
	}
	var payload bytes.Buffer
	enc := gob.NewEncoder(&payload)
	if err := enc.Encode(uint64(len(c.entries))); err != nil {
		t.Fatal(err)
	}
	for p, e := range c.entries {
		old := struct {
			Path  string
			Entry entryBeforeWholeRead
		}{p, entryBeforeWholeRead{Kind: e.Kind, ID: e.ID, WalID: e.WalID, Mode: e.Mode, Size: e.Size,
			PageSize: e.PageSize, DBHeader: e.DBHeader, Token: e.Token, Mark: e.Mark, Reread: e.Reread}}
		if err := enc.Encode(old); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	w.WriteString(cacheMagic)
	w.Write(binary.LittleEndian.AppendUint64(nil, uint64(payload.Len())))
	w.Write(payload.Bytes())
	sum := sha256.Sum256(payload.Bytes())
	w.Write(sum[:])
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

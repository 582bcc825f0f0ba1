package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, as chatsafe uses)
)

// Spec sizes a generated chat-history corpus. The same Spec (Seed
// included) always produces the same bytes.
type Spec struct {
	Name       string
	Messages   int   // rows in the messages table
	Chats      int   // distinct chats the messages spread over
	MediaBytes int64 // total size of media files
	Seed       uint64
	// Bulk builds the database in one transaction without a journal,
	// then opens it in WAL mode: the large cycle corpus in about a minute.
	Bulk bool
	// SmallFiles small files spread over SmallDirs directories.
	SmallFiles, SmallDirs int
}

// Corpus sizes. quick: a ~20 MB database and ~30 MB of media; full: a
// ~280 MB database and ~1 GB of media.
var (
	QuickSpec = Spec{Name: "quick", Messages: 120_000, Chats: 400, MediaBytes: 30 << 20, Seed: 1}
	FullSpec  = Spec{Name: "full", Messages: 1_700_000, Chats: 3000, MediaBytes: 1 << 30, Seed: 1}
	// LargeCycleSpec is only what the daemon's large-cycle row needs: a
	// ~1 GB database and 50,000 small files in 500 directories, no media.
	LargeCycleSpec = Spec{Name: "cycle-large", Messages: 6_500_000, Chats: 5000, Seed: 1, Bulk: true, SmallFiles: 50_000, SmallDirs: 500}
)

// DBRelPath is where the message database lives inside the corpus.
const DBRelPath = "databases/msgstore.db"

const schema = `
CREATE TABLE chats(id INTEGER PRIMARY KEY, jid TEXT NOT NULL UNIQUE, subject TEXT, created INTEGER NOT NULL);
CREATE TABLE messages(
	id INTEGER PRIMARY KEY,
	chat INTEGER NOT NULL REFERENCES chats(id),
	sender INTEGER NOT NULL,
	body TEXT,
	ts INTEGER NOT NULL,
	status INTEGER NOT NULL DEFAULT 0,
	media TEXT
);
CREATE INDEX messages_chat_ts ON messages(chat, ts);
CREATE TABLE props(key TEXT PRIMARY KEY, value TEXT);
`

// startTS is the timestamp (ms) of the first generated message: fixed,
// so the corpus does not depend on the clock.
const startTS = int64(1_600_000_000_000)

// Writer is the "messaging app": it holds the database open in WAL mode
// for the whole run, as a live app does, and commits changes to it.
type Writer struct {
	db     *sql.DB
	path   string // the database file
	probe  *readMarkProbe
	rng    *rand.Rand
	spec   Spec
	nextID int64 // id of the next inserted message
	ts     int64 // timestamp of the newest message
}

// Corpus is a generated chat-history directory.
type Corpus struct {
	Dir    string
	DBPath string
	Files  int   // regular files, -wal and -shm included
	Bytes  int64 // their total size
	Writer *Writer
}

// Generate writes a corpus for spec into dir (which must not exist or be
// empty) and returns it with its database held open by Writer; the
// caller closes the Writer.
func Generate(ctx context.Context, dir string, spec Spec) (*Corpus, error) {
	if spec.Messages < 1 || spec.Chats < 1 {
		return nil, fmt.Errorf("corpus spec %q needs at least one message and one chat", spec.Name)
	}
	c := &Corpus{Dir: dir, DBPath: filepath.Join(dir, DBRelPath)}
	if err := os.MkdirAll(filepath.Dir(c.DBPath), 0o755); err != nil {
		return nil, fmt.Errorf("creating the corpus directory: %w", err)
	}
	if err := writeSettings(dir, spec); err != nil {
		return nil, err
	}
	if err := writeMedia(ctx, dir, spec); err != nil {
		return nil, err
	}
	if err := writeSmallFiles(ctx, dir, spec); err != nil {
		return nil, err
	}
	w, err := openFilled(ctx, c.DBPath, spec)
	if err != nil {
		return nil, err
	}
	c.Writer = w
	if c.Files, c.Bytes, err = treeSize(dir); err != nil {
		w.Close()
		return nil, err
	}
	return c, nil
}

// openFilled creates and fills the database and returns its Writer.
func openFilled(ctx context.Context, path string, spec Spec) (*Writer, error) {
	if spec.Bulk {
		// Built without a journal in one transaction, then handed to
		// the app in WAL mode.
		w, err := openWriter(path, spec, "?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)")
		if err != nil {
			return nil, err
		}
		err = w.fill(ctx)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	w, err := openWriter(path, spec, "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	if !spec.Bulk {
		if err := w.fill(ctx); err != nil {
			w.Close()
			return nil, err
		}
	}
	if spec.Bulk {
		// The next message continues where the bulk build ended.
		if err := w.db.QueryRowContext(ctx, `SELECT max(id)+1, max(ts) FROM messages`).Scan(&w.nextID, &w.ts); err != nil {
			w.Close()
			return nil, fmt.Errorf("reading the message database: %w", err)
		}
	}
	return w, nil
}

func openWriter(path string, spec Spec, pragmas string) (*Writer, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + pragmas
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the message database: %w", err)
	}
	// One connection, never closed while the Writer lives: the app keeps
	// its database (and so its -wal and -shm) open.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return &Writer{db: db, path: path, rng: rand.New(rand.NewPCG(spec.Seed, 0x6d657373616765)), spec: spec, nextID: 1, ts: startTS}, nil
}

// fill creates the schema and inserts spec.Messages messages in time
// order, as an app that has been in use for years would have.
func (w *Writer) fill(ctx context.Context) error {
	if _, err := w.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("creating the message schema: %w", err)
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for i := 1; i <= w.spec.Chats; i++ {
		subject := sql.NullString{}
		if i%5 == 0 {
			subject = sql.NullString{String: w.words(2, 5), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO chats VALUES(?, ?, ?, ?)`,
			i, fmt.Sprintf("%012d@s.whatsapp.net", 491500000000+int64(i)*7919), subject, startTS-int64(i)*3_600_000); err != nil {
			tx.Rollback()
			return fmt.Errorf("inserting chats: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO props VALUES('schema_version', '42'), ('device', 'bench')`); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	batch := 20_000
	if w.spec.Bulk {
		batch = w.spec.Messages
	}
	for done := 0; done < w.spec.Messages; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, w.spec.Messages-done)
		if err := w.insertBatch(ctx, n); err != nil {
			return err
		}
		done += n
	}
	if w.spec.Bulk {
		return nil
	}
	// The app has been idle since: its WAL is checkpointed and empty.
	if _, err := w.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpointing the message database: %w", err)
	}
	return nil
}

func (w *Writer) insertBatch(ctx context.Context, n int) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO messages(id, chat, sender, body, ts, status, media) VALUES(?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		tx.Rollback()
		return err
	}
	defer stmt.Close()
	for range n {
		if _, err := stmt.ExecContext(ctx, w.message()...); err != nil {
			tx.Rollback()
			return fmt.Errorf("inserting messages: %w", err)
		}
	}
	return tx.Commit()
}

// message returns the columns of the next message.
func (w *Writer) message() []any {
	r := w.rng
	id := w.nextID
	w.nextID++
	w.ts += 1 + r.Int64N(90_000)
	// A few chats carry most traffic, as in real use.
	chat := 1 + int(float64(w.spec.Chats)*r.Float64()*r.Float64())
	sender := int64(0)
	if r.IntN(2) == 0 {
		sender = 1 + r.Int64N(500)
	}
	var media any
	if r.IntN(12) == 0 {
		media = fmt.Sprintf("media/images/IMG-%08d.jpg", id)
	}
	return []any{id, chat, sender, w.words(3, 40), w.ts, r.IntN(4), media}
}

var vocabulary = strings.Fields(`the a to and I you it is that of in for on we be
have are not this with was at do so but just what all me can get if my your will
like about know no up out now there one go how see time think when then they back
good yes ok okay thanks haha lol really right tomorrow tonight today later morning
dinner lunch coffee meeting train home work office call phone photo picture video
love miss sure great nice sorry please maybe where here why who which later week
weekend monday friday birthday party kids school doctor shopping groceries car bus
late early soon already still again never always beautiful funny crazy amazing tired`)

// words returns between lo and hi random words.
func (w *Writer) words(lo, hi int) string {
	n := lo + w.rng.IntN(hi-lo+1)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[w.rng.IntN(len(vocabulary))])
	}
	return b.String()
}

// SmallChange commits inserts new messages and updates (edits) of
// scattered existing ones, each in its own transaction as an app commits
// messages one by one. It returns the ids it updated.
func (w *Writer) SmallChange(ctx context.Context, inserts, updates int) ([]int64, error) {
	for range inserts {
		if _, err := w.db.ExecContext(ctx, `INSERT INTO messages(id, chat, sender, body, ts, status, media) VALUES(?, ?, ?, ?, ?, ?, ?)`, w.message()...); err != nil {
			return nil, fmt.Errorf("inserting a message: %w", err)
		}
	}
	// Scattered over the whole history: evenly spaced with jitter.
	last := w.nextID - 1
	ids := make([]int64, 0, updates)
	for i := range updates {
		step := last / int64(updates)
		id := min(1+int64(i)*step+w.rng.Int64N(max(step, 1)), last)
		ids = append(ids, id)
		if _, err := w.db.ExecContext(ctx, `UPDATE messages SET body = ?, status = 3 WHERE id = ?`, w.words(3, 40), id); err != nil {
			return nil, fmt.Errorf("updating message %d: %w", id, err)
		}
	}
	return ids, nil
}

// AddMessage commits one new message.
func (w *Writer) AddMessage(ctx context.Context) error {
	_, err := w.SmallChange(ctx, 1, 0)
	return err
}

// Checkpoint runs the checkpoint SQLite's auto-checkpoint would run
// (PASSIVE): committed pages move from the -wal into the database file.
func (w *Writer) Checkpoint(ctx context.Context) error {
	if _, err := w.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("checkpointing the message database: %w", err)
	}
	return nil
}

// checkpointRun is one app checkpoint: how long the app waited for it,
// whether it gave up (SQLITE_BUSY once its 5 s busy timeout ran out), and
// how many times its busy handler retried (retriesGaveUp: gave up), so
// how long of that it slept blocked on another connection's lock
// (Blocked): the daemon's read, the app being the only writer. Retries is
// retriesUnknown when the driver did not give the count.
type checkpointRun struct {
	Took    time.Duration
	Busy    bool
	Retries int
	Blocked time.Duration
}

const (
	// retriesGaveUp is the count SQLite's busy handler leaves when it gave
	// up (its nBusy is -1 then).
	retriesGaveUp = -1
	// retriesUnknown marks a checkpoint whose count the driver did not
	// give (errNoBusyCount); not a count SQLite can leave.
	retriesUnknown = -2
)

// CheckpointMode runs `PRAGMA wal_checkpoint(mode)` (PASSIVE, FULL,
// RESTART or TRUNCATE).
func (w *Writer) CheckpointMode(ctx context.Context, mode string) (checkpointRun, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return checkpointRun{}, fmt.Errorf("checkpointing the message database (%s): %w", mode, err)
	}
	defer conn.Close()
	start := time.Now()
	var busy, logFrames, done int
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &logFrames, &done)
	r := checkpointRun{Took: time.Since(start), Busy: busy != 0, Retries: retriesUnknown}
	if err != nil {
		return r, fmt.Errorf("checkpointing the message database (%s): %w", mode, err)
	}
	if n, timeout, err := busyRetries(conn); err == nil {
		r.Retries, r.Blocked = n, busySlept(n, timeout)
	}
	return r, nil
}

// readMarks returns the probe of other processes' read transactions on
// the database, opened once: it is closed after the app's connection,
// since closing a descriptor of the -shm drops the app's locks.
func (w *Writer) readMarks() (*readMarkProbe, error) {
	if w.probe == nil {
		p, err := openReadMarkProbe(w.path)
		if err != nil {
			return nil, fmt.Errorf("watching the daemon's read locks: %w", err)
		}
		w.probe = p
	}
	return w.probe, nil
}

// Close closes the database; as the last connection, SQLite checkpoints
// it and removes the -wal.
func (w *Writer) Close() error {
	err := w.db.Close()
	if w.probe != nil {
		w.probe.close()
	}
	return err
}

// DBSummary is a logical fingerprint of a message database, to check a
// restored copy against the source.
type DBSummary struct {
	Messages  int64
	MaxID     int64
	BodyBytes int64
	Status    int64
}

// SummarizeDB reads a DBSummary through a new connection.
func SummarizeDB(ctx context.Context, path string) (DBSummary, error) {
	var s DBSummary
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return s, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(id), 0), coalesce(sum(length(body)), 0), coalesce(sum(status), 0) FROM messages`).
		Scan(&s.Messages, &s.MaxID, &s.BodyBytes, &s.Status)
	if err != nil {
		return s, fmt.Errorf("reading %s: %w", path, err)
	}
	return s, nil
}

// Summary reads the DBSummary through the writer's own connection.
func (w *Writer) Summary(ctx context.Context) (DBSummary, error) {
	var s DBSummary
	err := w.db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(id), 0), coalesce(sum(length(body)), 0), coalesce(sum(status), 0) FROM messages`).
		Scan(&s.Messages, &s.MaxID, &s.BodyBytes, &s.Status)
	return s, err
}

// Media kinds: a file name pattern, a size range and a header that makes
// the bytes look like the real format (the rest is random, i.e. already
// compressed data).
type mediaKind struct {
	dir, prefix, ext string
	weight           int
	lo, hi           int64
	header, trailer  []byte
}

var mediaKinds = []mediaKind{
	{dir: "media/images", prefix: "IMG", ext: ".jpg", weight: 60, lo: 40 << 10, hi: 400 << 10,
		header:  []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00\xff\xdb\x00\x43\x00"),
		trailer: []byte("\xff\xd9")},
	{dir: "media/voice", prefix: "PTT", ext: ".opus", weight: 30, lo: 8 << 10, hi: 120 << 10,
		header: []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00")},
	{dir: "media/video", prefix: "VID", ext: ".mp4", weight: 10, lo: 1 << 20, hi: 8 << 20,
		header: []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free")},
}

// writeMedia writes random media files until spec.MediaBytes is reached.
func writeMedia(ctx context.Context, dir string, spec Spec) error {
	pick := rand.New(rand.NewPCG(spec.Seed, 0x6d65646961))
	total := 0
	for _, k := range mediaKinds {
		total += k.weight
	}
	var written int64
	for i := 1; written < spec.MediaBytes; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := pick.IntN(total)
		k := mediaKinds[0]
		for _, mk := range mediaKinds {
			if x < mk.weight {
				k = mk
				break
			}
			x -= mk.weight
		}
		size := min(k.lo+pick.Int64N(k.hi-k.lo), spec.MediaBytes-written)
		size = max(size, int64(len(k.header)+len(k.trailer)))
		day := 20200101 + (i/40)%28 + 100*((i/1120)%12)
		name := filepath.Join(dir, k.dir, fmt.Sprintf("%s-%d-WA%04d%s", k.prefix, day, i, k.ext))
		if err := writeRandomFile(name, size, k.header, k.trailer, spec.Seed, uint64(i)); err != nil {
			return err
		}
		written += size
	}
	return nil
}

// writeRandomFile writes header, random bytes from a stream seeded by
// (seed, index), and trailer: size bytes in all.
func writeRandomFile(name string, size int64, header, trailer []byte, seed, index uint64) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating media file: %w", err)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], index)
	copy(key[16:], "chatsafe-bench")
	body := size - int64(len(header)) - int64(len(trailer))
	_, err = f.Write(header)
	if err == nil {
		_, err = io.CopyN(f, rand.NewChaCha8(key), body)
	}
	if err == nil {
		_, err = f.Write(trailer)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing media file %s: %w", name, err)
	}
	return nil
}

// writeSmallFiles writes spec.SmallFiles files of 1–4 KB spread evenly
// over spec.SmallDirs directories (attachments' thumbnails, stickers).
func writeSmallFiles(ctx context.Context, dir string, spec Spec) error {
	for i := range spec.SmallFiles {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		d := i % max(spec.SmallDirs, 1)
		name := filepath.Join(dir, "media", "thumbs", fmt.Sprintf("%03d", d), fmt.Sprintf("T%06d.webp", i))
		size := int64(1024 + (i*2654435761)%3072)
		if err := writeRandomFile(name, size, []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), nil, spec.Seed, uint64(1_000_000+i)); err != nil {
			return err
		}
	}
	return nil
}

// writeSettings writes the small files an app keeps beside its database.
func writeSettings(dir string, spec Spec) error {
	files := map[string]string{
		"shared_prefs/settings.xml": `<?xml version='1.0' encoding='utf-8' standalone='yes' ?>
<map>
    <boolean name="backup_enabled" value="true" />
    <string name="notification_tone">content://settings/system/notification_sound</string>
    <int name="font_size" value="1" />
    <long name="last_seen" value="1600000000000" />
</map>
`,
		"shared_prefs/keystore.xml":   "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n    <string name=\"client_static_keypair_pwd_enc\">[2,&quot;bench&quot;]</string>\n</map>\n",
		"files/me.json":               fmt.Sprintf(`{"jid":"491500000000@s.whatsapp.net","name":"Bench User","seed":%d}`+"\n", spec.Seed),
		"files/wallpaper.json":        `{"type":"solid","color":"#0b141a"}` + "\n",
		"files/emoji_recent.txt":      "😀 👍 ❤️ 😂 🙏\n",
		"files/notifications.json":    `{"muted":[12,77,140],"vibrate":true}` + "\n",
		"databases/.nomedia":          "",
		"media/.nomedia":              "",
		"files/Logs/whatsapp.log.txt": strings.Repeat("2020-09-13 12:26:40.000 LL_I D [1:main] app/start\n", 200),
	}
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
	}
	return nil
}

package store_test

import (
	"database/sql"
	"fmt"
	"github.com/chatsafe/chatsafe/internal/storetest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/remotes/remotetest"
	"github.com/chatsafe/chatsafe/restore"
	"github.com/chatsafe/chatsafe/store"
)

// TestRoundTripNetworkRemotes backs a chat directory (a WAL database a
// writer commits to during the backup, and media) up to rclone's own
// WebDAV and S3 servers on loopback, then restores from each as a new
// device would: files byte for byte, the database row for row.
func TestRoundTripNetworkRemotes(t *testing.T) {
	for name, start := range map[string]func(testing.TB, string) *remotetest.Server{
		"webdav": remotetest.StartWebDAV, "s3": remotetest.StartS3,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, t.TempDir())
			ctx := t.Context()
			src, state := t.TempDir(), t.TempDir()
			key, err := crypt.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			r, err := store.Init(ctx, openNetRemote(t, srv.Spec), key, store.Options{StateDir: state})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			db := storetest.OpenChatDB(t, filepath.Join(src, "msgstore.db"))
			db.Insert(0, 2000, 500)
			storetest.WriteFile(t, filepath.Join(src, "Media", "IMG-0001.jpg"), append([]byte{0xff, 0xd8, 0xff, 0xe0}, storetest.RandBytes(11, 700<<10)...))
			storetest.WriteFile(t, filepath.Join(src, "Media", "Voice Notes", "PTT-0001.opus"), storetest.RandBytes(12, 90<<10))
			storetest.WriteFile(t, filepath.Join(src, "wallpaper.txt"), []byte(strings.Repeat("blue ", 4000)))

			// The app keeps committing while the backups run.
			stop := make(chan struct{})
			commits := make(chan struct{}, 1)
			var wg sync.WaitGroup
			var werr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				werr = writeUntil(db.DB, 2000, stop, commits)
			}()
			for i := range 3 {
				// Each backup must find a commit the one before did not
				// see, or it is unchanged and commits no snapshot: on a
				// loaded machine the writer may not have run in between.
				select {
				case <-commits:
				default:
				}
				select {
				case <-commits:
				case <-time.After(60 * time.Second):
					close(stop)
					wg.Wait()
					t.Fatalf("the writer committed nothing before backup %d: %v", i, werr)
				}
				if _, err := backup.Run(ctx, r, backup.Options{Source: src}); err != nil {
					close(stop)
					wg.Wait()
					t.Fatalf("backup %d: %v", i, err)
				}
				if _, err := r.Sync(ctx); err != nil {
					close(stop)
					wg.Wait()
					t.Fatalf("upload %d to %s: %v", i, name, err)
				}
			}
			close(stop)
			wg.Wait()
			if werr != nil {
				t.Fatal(werr)
			}
			storetest.WriteFile(t, filepath.Join(src, "Media", "IMG-0002.jpg"), append([]byte{0xff, 0xd8, 0xff, 0xe0}, storetest.RandBytes(13, 300<<10)...))
			res, err := backup.Run(ctx, r, backup.Options{Source: src})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(r.Pending()); n != 0 {
				t.Fatalf("%d deltas still pending after Sync", n)
			}

			// A new device: no state, its own connection to the server.
			fresh, err := store.Open(ctx, openNetRemote(t, srv.Spec), key, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if snaps := fresh.Snapshots(); len(snaps) != 4 || snaps[3].ID != res.Snapshot.ID {
				t.Fatalf("the new device sees %d snapshots, want 4 ending with %s", len(snaps), res.Snapshot.ShortID())
			}
			if _, err := check.Run(ctx, fresh, check.Options{ReadData: true}); err != nil {
				t.Fatalf("check --read-data through %s: %v", name, err)
			}
			dst := filepath.Join(t.TempDir(), "restored")
			if _, err := restore.Run(ctx, fresh, restore.Options{Target: dst}); err != nil {
				t.Fatal(err)
			}
			skipDB := func(rel string) bool { return strings.HasPrefix(rel, "msgstore.db") }
			want, got := storetest.DirDigest(t, src, skipDB), storetest.DirDigest(t, dst, skipDB)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("restored tree differs:\n got %v\nwant %v", got, want)
			}
			if w, g := storetest.TableRows(t, filepath.Join(src, "msgstore.db")), storetest.TableRows(t, filepath.Join(dst, "msgstore.db")); w != g || !strings.Contains(w, storetest.MessageBody(1999)) {
				t.Fatalf("restored database differs: %d bytes of rows, want %d", len(g), len(w))
			}
		})
	}
}

func openNetRemote(t *testing.T, spec string) remotes.Remote {
	t.Helper()
	r, err := remotes.Open(t.Context(), spec, remotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// writeUntil commits one message per transaction from id next on until
// stop is closed, as a messaging app does, and tells commits (without
// waiting) after each one.
func writeUntil(db *sql.DB, next int, stop <-chan struct{}, commits chan<- struct{}) error {
	for ; ; next++ {
		select {
		case <-stop:
			return nil
		default:
		}
		if _, err := db.Exec(`INSERT INTO messages(id, chat, sender, body, ts) VALUES(?,?,?,?,?)`,
			next, next%37, "+447700900001", storetest.MessageBody(next), 1700000000+next); err != nil {
			return fmt.Errorf("writer: %w", err)
		}
		select {
		case commits <- struct{}{}:
		default:
		}
	}
}

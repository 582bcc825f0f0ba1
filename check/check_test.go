package check_test

import (
	"github.com/chatsafe/chatsafe/internal/storetest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatsafe/chatsafe/check"
)

func TestCheck(t *testing.T) {
	e := storetest.NewEnv(t)
	db := storetest.OpenChatDB(t, filepath.Join(e.Src, "msgstore.db"))
	db.Insert(0, 2000, 500)
	storetest.WriteFile(t, filepath.Join(e.Src, "Media", "a.mp4"), storetest.RandBytes(3, 1<<20))
	e.Backup()
	db.Insert(2000, 2100, 50)
	e.Backup()
	res, err := check.Run(e.Ctx, e.Store, check.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deltas != 2 || res.Snapshots != 2 || res.ReadBytes != storetest.RemoteSize(t, e.RemoteDir)-configSize(t, e.RemoteDir) {
		t.Fatalf("check result: %+v", res)
	}
}

func configSize(t *testing.T, dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

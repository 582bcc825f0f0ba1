package source

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteDictSample: a database read whole (in one transaction, and in
// pieces) offers, before its first page, pages spread over the file, each
// one of the pages the read then delivers, mostly leaves; the read
// delivers the same content as without the sample. A read of changed
// pages only, and a database too small to spread over, offer none.
func TestSQLiteDictSample(t *testing.T) {
	const n = 16
	for _, carry := range []bool{false, true} {
		root := t.TempDir()
		dbPath := filepath.Join(root, "msgstore.db")
		db := openDB(t, dbPath, "WAL")
		createMessages(t, db, 3000)
		cache := emptyCache(t)
		var samples [][][]byte
		scanOnce := func() *recorder {
			r := newRecorder(t)
			r.onFile = func(info FileInfo, c Content) ([]byte, error) {
				s, ok := c.(DictSampler)
				if !ok {
					t.Fatalf("the content of a database (%T) offers no sample", c)
				}
				samples = append(samples, s.DictSample(n))
				data, _, err := readAll(c)
				if err != nil {
					return nil, err
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				r.contents[info.Path] = data
				return []byte{1}, nil
			}
			s := NewScanner(root, Options{Cache: cache, CarryPages: carry})
			future(s)
			if err := s.Scan(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		whole := scanOnce().contents["msgstore.db"]
		pageCount := len(whole) / 4096
		if pageCount < 2*n || len(samples) != 1 || len(samples[0]) != n {
			t.Fatalf("carry %v: %d pages, samples %d of %v pages, want one of %d", carry, pageCount, len(samples), len(samples[0]), n)
		}
		leaves := 0
		for k, p := range samples[0] {
			at := k * pageCount / n // index of the page at the sample's spot
			found := -1
			for i := at; i < at+sampleProbe && i < pageCount; i++ {
				if bytes.Equal(p, whole[i*4096:(i+1)*4096]) {
					found = i
					break
				}
			}
			if found < 0 {
				t.Fatalf("carry %v: sample page %d is none of pages %d–%d", carry, k, at+1, at+sampleProbe)
			}
			if isLeafPage(int64(found+1), p) {
				leaves++
			}
		}
		if leaves < n*3/4 {
			t.Errorf("carry %v: %d of %d sampled pages are leaves", carry, leaves, n)
		}
		if !bytes.Equal(whole, fullScan(t, dbPath)) {
			t.Fatalf("carry %v: the read after the sample is not the database", carry)
		}
		if !carry {
			continue
		}
		// The next cycle reads the changed pages only: no sample.
		if err := commitMessage(db, 3001); err != nil {
			t.Fatal(err)
		}
		scanOnce()
		if len(samples) != 2 || samples[1] != nil {
			t.Fatalf("an incremental read offered a sample of %d pages", len(samples[1]))
		}
	}
	// Too small to spread over.
	root := t.TempDir()
	createMessages(t, openDB(t, filepath.Join(root, "small.db"), "WAL"), 10)
	r := newRecorder(t)
	r.onFile = func(info FileInfo, c Content) ([]byte, error) {
		if got := c.(DictSampler).DictSample(n); got != nil {
			t.Errorf("a database of fewer than %d pages offered %d", 2*n, len(got))
		}
		_, _, err := readAll(c)
		return []byte{1}, err
	}
	if err := NewScanner(root, Options{}).Scan(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

package remotes

import (
	"bytes"
	"io"
	"testing"
)

// A local-path remote (also through WithRetry) serves ranged reads of an
// object through one open handle; one with a bandwidth limit, a missing
// object or a bad name does not, and the caller falls back to Get.
func TestOpenRangesLocal(t *testing.T) {
	dir := t.TempDir()
	inner, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := WithRetry(inner, RetryOptions{})
	defer r.Close()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := r.Put(t.Context(), "deltas/x", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	o, ok := r.(RangeOpener).OpenRanges(t.Context(), "deltas/x")
	if !ok {
		t.Fatal("a local-path remote did not open an object for ranged reads")
	}
	defer o.Close()
	buf := make([]byte, 25)
	if _, err := o.ReadAt(buf, 4003); err != nil || !bytes.Equal(buf, data[4003:4028]) {
		t.Fatalf("ReadAt: %q, %v", buf, err)
	}
	if n, err := o.ReadAt(buf, int64(len(data))-5); n != 5 || err != io.EOF {
		t.Fatalf("a read past the end gave %d bytes, %v; want 5, io.EOF", n, err)
	}
	for _, name := range []string{"deltas/missing", "../escape", "deltas"} {
		if o, ok := r.(RangeOpener).OpenRanges(t.Context(), name); ok {
			o.Close()
			t.Errorf("OpenRanges(%q) succeeded", name)
		}
	}

	limited, err := Open(t.Context(), dir, Options{BwLimit: "10M"})
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	if o, ok := limited.(RangeOpener).OpenRanges(t.Context(), "deltas/x"); ok {
		o.Close()
		t.Fatal("a remote with a bandwidth limit bypassed it")
	}
}

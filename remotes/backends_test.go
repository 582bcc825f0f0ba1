package remotes

import (
	"slices"
	"testing"

	"github.com/rclone/rclone/fs"
)

// TestBuiltInBackendsAreWhatUsersType: the list an unknown backend's
// error shows names each backend as a connection string takes it (":gcs:",
// not "google cloud storage"), and every name in it opens.
func TestBuiltInBackendsAreWhatUsersType(t *testing.T) {
	names := BuiltInBackends()
	if !slices.Contains(names, "gcs") || slices.Contains(names, "google cloud storage") {
		t.Fatalf("built-in backends: %q", names)
	}
	for _, n := range names {
		if _, err := fs.Find(n); err != nil {
			t.Errorf("%q is listed but does not open: %v", n, err)
		}
	}
}

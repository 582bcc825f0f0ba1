// Package buildinfo says what this binary is: chatsafe's version (set at
// link time), the VCS revision and time Go recorded, the Go version and
// the rclone library's version. `chatsafe version`, the status API and
// the chatsafe_build_info metric all read it here.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/rclone/rclone/fs"
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"` // "" when built without VCS information
	Time      string `json:"time"`     // commit time, RFC 3339; "" when unknown
	Modified  bool   `json:"modified"` // built from a tree with uncommitted changes
	GoVersion string `json:"go_version"`
	Rclone    string `json:"rclone"`
	Platform  string `json:"platform"`
}

// Get reads the build information; version is what the linker set.
func Get(version string) Info {
	in := Info{Version: version, GoVersion: runtime.Version(), Rclone: strings.TrimPrefix(fs.Version, "v"),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	// A binary installed with `go install …@vX` has no ldflags version
	// but knows its module version.
	if (in.Version == "" || in.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		in.Version = bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == "github.com/rclone/rclone" && in.Rclone == "" {
			in.Rclone = strings.TrimPrefix(dep.Version, "v")
		}
	}
	return in
}

// ShortRevision is the first 12 digits of the revision, "unknown" without.
func (in Info) ShortRevision() string {
	r := in.Revision
	if r == "" {
		return "unknown"
	}
	if len(r) > 12 {
		r = r[:12]
	}
	if in.Modified {
		r += "+dirty"
	}
	return r
}

// String is the one-line form of --version.
func (in Info) String() string {
	when := in.Time
	if when == "" {
		when = "unknown time"
	}
	return fmt.Sprintf("chatsafe %s (revision %s, %s; %s %s; rclone %s)", in.Version, in.ShortRevision(), when, in.GoVersion, in.Platform, in.Rclone)
}

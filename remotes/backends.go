package remotes

// The rclone backends chatsafe ships, imported one by one rather than
// backend/all: the full set makes the binary 117 MB instead of 89 MB (66 MB with
// the nine backends before), for services
// nobody backs chat history up to (see docs/remotes.md for both sizes).
// These are the storage services and protocols people back up to, plus
// the wrappers (alias, union) that point at them. Add a backend here and
// in docs/remotes.md and the README together.
import (
	"sort"

	"github.com/rclone/rclone/fs"

	_ "github.com/rclone/rclone/backend/alias"
	_ "github.com/rclone/rclone/backend/azureblob"
	_ "github.com/rclone/rclone/backend/b2"
	_ "github.com/rclone/rclone/backend/box"
	_ "github.com/rclone/rclone/backend/drive"
	_ "github.com/rclone/rclone/backend/dropbox"
	_ "github.com/rclone/rclone/backend/ftp"
	_ "github.com/rclone/rclone/backend/googlecloudstorage"
	_ "github.com/rclone/rclone/backend/iclouddrive"
	_ "github.com/rclone/rclone/backend/koofr"
	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/mega"
	_ "github.com/rclone/rclone/backend/memory"
	_ "github.com/rclone/rclone/backend/onedrive"
	_ "github.com/rclone/rclone/backend/pcloud"
	_ "github.com/rclone/rclone/backend/protondrive"
	_ "github.com/rclone/rclone/backend/s3"
	_ "github.com/rclone/rclone/backend/seafile"
	_ "github.com/rclone/rclone/backend/sftp"
	_ "github.com/rclone/rclone/backend/smb"
	_ "github.com/rclone/rclone/backend/swift"
	_ "github.com/rclone/rclone/backend/union"
	_ "github.com/rclone/rclone/backend/webdav"
)

// BuiltInBackends lists the rclone backends this build has, by name,
// sorted (what a remote's "name:" or ":backend," may use).
func BuiltInBackends() []string {
	names := make([]string, 0, len(fs.Registry))
	for _, ri := range fs.Registry {
		// A connection string names a backend by its prefix when it has
		// one (":gcs:"; its Name, "google cloud storage", has spaces).
		name := ri.Name
		if ri.Prefix != "" {
			name = ri.Prefix
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

package remotes

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	// tmpDir holds uploads in progress on backends without atomic uploads.
	tmpDir = "tmp"
	// partialSuffix marks an upload in progress (ours and rclone's own).
	partialSuffix = ".partial"
	maxNameLen    = 1024
)

// checkName rejects names that are not plain relative slash-separated ASCII
// paths, or that fall in the reserved tmp/ directory. dir allows "".
func checkName(name string, dir bool) error {
	if name == "" {
		if dir {
			return nil
		}
		return fmt.Errorf("%w: empty object name", ErrPermanent)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: object name longer than %d bytes", ErrPermanent, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e || c == '\\' {
			return fmt.Errorf("%w: object name %q: only printable ASCII without spaces or backslashes", ErrPermanent, name)
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: object name %q: empty, . or .. path element", ErrPermanent, name)
		}
	}
	if isTemporary(name) {
		return fmt.Errorf("%w: object name %q: %s/ and *%s are reserved for uploads in progress", ErrPermanent, name, tmpDir, partialSuffix)
	}
	return nil
}

// isTemporary reports whether name is an upload in progress.
func isTemporary(name string) bool {
	return name == tmpDir || strings.HasPrefix(name, tmpDir+"/") || strings.HasSuffix(name, partialSuffix)
}

// tmpName returns a fresh temporary name for an upload of name.
func tmpName(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return tmpDir + "/" + name + "." + hex.EncodeToString(b[:]) + partialSuffix
}

package peercred

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

// pipePrefix starts every Windows named-pipe path.
const pipePrefix = `\\.\pipe\`

// PipeName is the Windows named pipe that stands for the status socket at
// path: the path itself when it already names a pipe, otherwise a name
// derived from the cleaned, case-folded path (Windows paths are
// case-insensitive), so that two installations never share a pipe and the
// daemon and the CLI agree on it. Unix ignores it.
func PipeName(path string) string {
	if strings.HasPrefix(strings.ToLower(path), strings.ToLower(pipePrefix)) {
		return path
	}
	sum := sha256.Sum256([]byte(strings.ToLower(filepath.Clean(path))))
	return pipePrefix + "chatsafe-" + hex.EncodeToString(sum[:8])
}

// pipeSDDL is the security descriptor of the pipe: a protected DACL (no
// inherited entries) granting full access to SYSTEM, the Administrators
// group and the owner's SID, and nothing to anyone else.
func pipeSDDL(ownerSID string) string {
	return "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;" + ownerSID + ")"
}

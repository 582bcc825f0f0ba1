package main

import (
	"fmt"
	"strings"

	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// The store's word on a damaged repository ends with `chatsafe repair
// --dry-run`, which opens an installation: a command run with --remote
// and no config says instead what works from where it runs.

// damageText is de for a command that read the remote --remote without a
// config ("" with one: the store's own words).
func damageText(de *store.DamageError, remote string) string {
	if remote == "" {
		return de.Error()
	}
	parts := make([]string, len(de.Damage))
	for i, d := range de.Damage {
		parts[i] = d.String()
	}
	return fmt.Sprintf("the repository is damaged: %s; only the intact history up to sequence %d is read, and nothing is committed on it. "+
		"Repairing it needs an installation of it, and this device has no config for it (nor can it make one: `chatsafe init --join` refuses a damaged repository): "+
		"run `chatsafe repair --dry-run`, then `chatsafe repair`, on a device whose config names this remote (%s); "+
		"with none left, restore the intact snapshot and back it up into a new repository: `chatsafe init --source DIR --remote NEW-REMOTE`",
		strings.Join(parts, "; "), de.HeadSeq, remotes.Redact(remote))
}

// partialNoConfig is store.PartialError in damageText's words.
type partialNoConfig struct {
	p      *store.PartialError
	remote string
}

func (e *partialNoConfig) Error() string {
	return "partial result: " + damageText(e.p.Damage, e.remote)
}
func (e *partialNoConfig) Unwrap() error { return e.p }

// withoutConfig is the remote lk read when it was opened with --remote and
// no config, else "".
func (lk *looked) withoutConfig() string {
	if lk.cfg.Path != "" || len(lk.cfg.Remotes) == 0 {
		return ""
	}
	return lk.cfg.Remotes[0].URL
}

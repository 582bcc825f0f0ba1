package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/client"
)

// errOtherInstallation means the daemon answering on an installation's
// socket serves another installation (two configs naming one socket).
var errOtherInstallation = errors.New("another installation's daemon answers on this installation's socket")

// knownRepositoryIDs lists the repositories whose local state lives in
// stateDir: the repository keeps its state in stateDir/repo-ID. It reads
// only the local disk, so it works when the remotes are unreachable.
func knownRepositoryIDs(stateDir string) []string {
	dirs, _ := filepath.Glob(filepath.Join(stateDir, "repo-*"))
	var ids []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			ids = append(ids, strings.TrimPrefix(filepath.Base(d), "repo-"))
		}
	}
	sort.Strings(ids)
	return ids
}

// daemonAnswerTimeout bounds the wait for a daemon's status (README,
// "Exit codes"): a daemon that takes the connection but does not answer
// (stopped, suspended, stuck) would keep status and backup waiting for
// ever. Its answer is quick; --retry-for, about remotes, does not change
// it. A variable for the tests.
var daemonAnswerTimeout = 10 * time.Second

// daemonFor asks the daemon on cfg's socket for its status and checks that
// it serves cfg's installation: its repository is one whose state is in
// cfg.StateDir, or it runs cfg's config file and has not opened its
// repository yet. No daemon gives client.ErrNoDaemon, one that does not
// answer within daemonAnswerTimeout client.ErrNoAnswer; the daemon of
// another installation gives an error wrapping errOtherInstallation that
// names both.
func (g *globalOptions) daemonFor(ctx context.Context, cfg *configs.Config) (*client.Client, statusapi.Status, error) {
	c := client.NewFor(cfg.StatusSocket, g.installation(cfg.Path))
	st, err := c.StatusWithin(ctx, daemonAnswerTimeout)
	if err != nil {
		c.Close()
		return nil, st, err
	}
	ours := knownRepositoryIDs(cfg.StateDir)
	for _, id := range ours {
		if st.RepositoryID != "" && id == st.RepositoryID {
			return c, st, nil
		}
	}
	if st.RepositoryID == "" && sameConfig(st.Config, cfg.Path) {
		// It has not opened its repository yet, whatever its state says
		// of why (starting; offline, its first remote out of reach;
		// error, its state disk full): it cannot name it, but it runs
		// this very config.
		return c, st, nil
	}
	c.Close()
	return nil, st, otherInstallation(cfg, st, ours)
}

func otherInstallation(cfg *configs.Config, st statusapi.Status, ours []string) error {
	theirs := fmt.Sprintf("config %s, repository %s", orUnknown(st.Config), orUnknown(st.RepositoryID))
	mine := "no backup yet"
	if len(ours) > 0 {
		mine = "repository " + strings.Join(ours, ", ")
	}
	return fmt.Errorf("%w: %s is served by the daemon of %s (pid %d), not of config %s (%s); give each installation its own status_socket (leave it out of the config for a default of its own)",
		errOtherInstallation, cfg.StatusSocket, theirs, st.PID, cfg.Path, mine)
}

// sameConfig reports whether the daemon's config (an absolute path) is
// the file at path.
func sameConfig(theirs, path string) bool {
	abs, err := filepath.Abs(path)
	return err == nil && theirs != "" && theirs == abs
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (an older chatsafe?)"
	}
	return s
}

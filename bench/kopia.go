package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// --- kopia ---

// kopiaTool drives kopia with a filesystem repository, its defaults
// otherwise (as a user would start). kopia has no Debian package: build
// 0.21.1 in a scratch module (`go get github.com/kopia/kopia@v0.21.1 &&
// go build -o BIN github.com/kopia/kopia`) and put it on PATH.
type kopiaTool struct {
	toolDir
	bin, src string
}

func (t *kopiaTool) Name() string     { return "kopia" }
func (t *kopiaTool) Bin() string      { return t.bin }
func (t *kopiaTool) RepoDir() string  { return filepath.Join(t.dir, "repo") }
func (t *kopiaTool) StateDir() string { return filepath.Join(t.dir, "cache") }

// args adds the flags every kopia command needs: its own config file and
// cache, not the user's.
func (t *kopiaTool) args(a ...string) []string {
	return append(a, "--config-file", filepath.Join(t.dir, "kopia.config"))
}

func (t *kopiaTool) env() []string {
	return []string{"KOPIA_PASSWORD=" + benchPassword, "KOPIA_CHECK_FOR_UPDATES=false",
		"KOPIA_CACHE_DIRECTORY=" + t.StateDir(), "KOPIA_LOG_DIR=" + filepath.Join(t.dir, "logs")}
}

func (t *kopiaTool) Version(ctx context.Context) string {
	r, err := run(ctx, command{name: t.bin, args: []string{"--version"}, env: t.env()})
	if err != nil {
		return "unknown"
	}
	return firstLine(r.Stdout)
}

func (t *kopiaTool) Init(ctx context.Context) error {
	if err := os.MkdirAll(t.RepoDir(), 0o700); err != nil {
		return err
	}
	_, err := run(ctx, command{name: t.bin, args: t.args("repository", "create", "filesystem", "--path", t.RepoDir()), env: t.env()})
	return err
}

func (t *kopiaTool) Backup(ctx context.Context, _ int, perf string) (procResult, error) {
	return run(ctx, command{name: t.bin, args: t.args("snapshot", "create", t.src, "--no-progress"), env: t.env(), perf: perf})
}

func (t *kopiaTool) Restore(ctx context.Context, dst, perf string) (procResult, string, error) {
	r, err := run(ctx, command{name: t.bin, args: t.args("snapshot", "list", t.src, "--json"), env: t.env()})
	if err != nil {
		return r, dst, err
	}
	var snaps []struct {
		Root struct {
			Obj string `json:"obj"`
		} `json:"rootEntry"`
	}
	if err := json.Unmarshal(r.Stdout, &snaps); err != nil || len(snaps) == 0 {
		return r, dst, fmt.Errorf("reading kopia snapshot list --json (%d snapshots): %v", len(snaps), err)
	}
	root := snaps[len(snaps)-1].Root.Obj
	r, err = run(ctx, command{name: t.bin, args: t.args("snapshot", "restore", root, dst), env: t.env(), perf: perf})
	return r, dst, err
}

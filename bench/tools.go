package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatsafe/chatsafe/configs"
)

// benchPassword protects the throw-away repositories of the comparison
// tools. It is not a secret: the repositories are deleted after the run.
const benchPassword = "chatsafe-bench-not-a-secret"

// tool is one backup program driven as a subprocess.
type tool interface {
	Name() string
	// Bin is the executable that runs.
	Bin() string
	// Version returns the tool's version line.
	Version(ctx context.Context) string
	// Init creates an empty repository.
	Init(ctx context.Context) error
	// Backup backs up the corpus; step numbers the backups from 1. perf,
	// when set, is where the timed command's CPU profile goes
	// (command.perf).
	Backup(ctx context.Context, step int, perf string) (procResult, error)
	// Restore restores the newest backup into dst and returns where the
	// corpus's root landed; perf as for Backup.
	Restore(ctx context.Context, dst, perf string) (procResult, string, error)
	// RepoDir is the repository directory whose size is "bytes stored".
	RepoDir() string
	// StateDir is the tool's local state on the device (caches, spool),
	// or "" when it keeps none.
	StateDir() string
	// Dir holds all the tool keeps: its repository, state and config;
	// Init makes what it needs in it.
	Dir() string
	// moveTo makes dir the tool's Dir from now on (freshRepository).
	moveTo(dir string)
}

// toolDir is a tool's Dir, which moves to a new directory for each round
// (freshRepository).
type toolDir struct{ dir string }

func (d *toolDir) Dir() string       { return d.dir }
func (d *toolDir) moveTo(dir string) { d.dir = dir }

// installHint says how to get each comparison tool.
var installHint = map[string]string{
	"borg":   "apt-get install -y borgbackup",
	"rclone": "apt-get install -y rclone",
	"restic": "go install github.com/restic/restic/cmd/restic@v0.18.1 (Debian's is older)",
	"kopia":  "in a scratch module: go get github.com/kopia/kopia@v0.21.1 && go build -o $(go env GOPATH)/bin/kopia github.com/kopia/kopia",
}

// newTools returns the tools named in names that can run; the missing
// ones are reported in skipped with how to install them.
func newTools(names []string, work, src, chatsafeBin string) (tools []tool, skipped map[string]string) {
	skipped = map[string]string{}
	for _, name := range names {
		dir := filepath.Join(work, name)
		switch name {
		case "chatsafe":
			tools = append(tools, &chatsafeTool{bin: chatsafeBin, toolDir: toolDir{dir}, src: src})
		case "restic", "borg", "rclone", "kopia":
			bin, err := exec.LookPath(name)
			if err != nil {
				skipped[name] = fmt.Sprintf("%s is not installed; install it with `%s` to compare", name, installHint[name])
				continue
			}
			switch name {
			case "restic":
				tools = append(tools, &resticTool{bin: bin, toolDir: toolDir{dir}, src: src})
			case "borg":
				tools = append(tools, &borgTool{bin: bin, toolDir: toolDir{dir}, src: src})
			case "rclone":
				tools = append(tools, &rcloneTool{bin: bin, toolDir: toolDir{dir}, src: src})
			case "kopia":
				tools = append(tools, &kopiaTool{bin: bin, toolDir: toolDir{dir}, src: src})
			}
		default:
			skipped[name] = "unknown tool (known: chatsafe, restic, kopia, borg, rclone)"
		}
	}
	return tools, skipped
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// --- chatsafe ---

type chatsafeTool struct {
	toolDir
	bin, src string
	// lastAdded is the added_bytes the last backup reported.
	lastAdded int64
}

func (t *chatsafeTool) Name() string     { return "chatsafe" }
func (t *chatsafeTool) Bin() string      { return t.bin }
func (t *chatsafeTool) RepoDir() string  { return filepath.Join(t.dir, "repo") }
func (t *chatsafeTool) config() string   { return filepath.Join(t.dir, "config.yaml") }
func (t *chatsafeTool) socket() string   { return configs.DefaultSocket(t.StateDir()) }
func (t *chatsafeTool) StateDir() string { return filepath.Join(t.dir, "state") }

func (t *chatsafeTool) Version(ctx context.Context) string {
	r, err := run(ctx, command{name: t.bin, args: []string{"--version"}})
	if err != nil {
		return "unknown"
	}
	return firstLine(r.Stdout)
}

func (t *chatsafeTool) Init(ctx context.Context) error {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	_, err := run(ctx, command{name: t.bin, args: []string{"init",
		"--source", t.src, "--remote", t.RepoDir(), "--config", t.config(),
		"--state-dir", t.StateDir(), "--recovery-key-out", filepath.Join(t.dir, "recovery-key")}})
	if err != nil {
		return err
	}
	// init --state-dir gave it a socket of its own (not the machine's
	// default); set the quiet period the daemon measurement is judged
	// against.
	cfg, err := configs.Load(t.config())
	if err != nil {
		return fmt.Errorf("reading the config chatsafe init wrote: %w", err)
	}
	cfg.Sync.QuietPeriod = configs.Duration(daemonQuietPeriod)
	return cfg.Write(t.config())
}

func (t *chatsafeTool) Backup(ctx context.Context, _ int, perf string) (procResult, error) {
	r, err := run(ctx, command{name: t.bin, args: []string{"backup", "--config", t.config(), "--json"}, perf: perf})
	if err != nil {
		return r, err
	}
	var out struct {
		AddedBytes int64 `json:"added_bytes"`
	}
	if err := json.Unmarshal(r.Stdout, &out); err != nil {
		return r, fmt.Errorf("reading chatsafe backup --json: %w", err)
	}
	t.lastAdded = out.AddedBytes
	return r, nil
}

func (t *chatsafeTool) Restore(ctx context.Context, dst, perf string) (procResult, string, error) {
	r, err := run(ctx, command{name: t.bin, args: []string{"restore", "--config", t.config(), "--to", dst}, perf: perf})
	return r, dst, err
}

// --- restic ---

type resticTool struct {
	toolDir
	bin, src string
}

func (t *resticTool) Name() string     { return "restic" }
func (t *resticTool) Bin() string      { return t.bin }
func (t *resticTool) RepoDir() string  { return filepath.Join(t.dir, "repo") }
func (t *resticTool) StateDir() string { return filepath.Join(t.dir, "cache") }
func (t *resticTool) env() []string {
	return []string{"RESTIC_REPOSITORY=" + t.RepoDir(), "RESTIC_PASSWORD=" + benchPassword,
		"RESTIC_CACHE_DIR=" + t.StateDir()}
}

func (t *resticTool) Version(ctx context.Context) string {
	r, err := run(ctx, command{name: t.bin, args: []string{"version"}})
	if err != nil {
		return "unknown"
	}
	return firstLine(r.Stdout)
}

func (t *resticTool) Init(ctx context.Context) error {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	_, err := run(ctx, command{name: t.bin, args: []string{"init"}, env: t.env()})
	return err
}

func (t *resticTool) Backup(ctx context.Context, _ int, perf string) (procResult, error) {
	return run(ctx, command{name: t.bin, args: []string{"backup", "--quiet", "--host", "bench", t.src}, env: t.env(), perf: perf})
}

func (t *resticTool) Restore(ctx context.Context, dst, perf string) (procResult, string, error) {
	r, err := run(ctx, command{name: t.bin, args: []string{"restore", "latest", "--host", "bench", "--target", dst}, env: t.env(), perf: perf})
	// restic restores the absolute source path below the target.
	return r, filepath.Join(dst, t.src), err
}

// --- borg ---

type borgTool struct {
	toolDir
	bin, src string
}

func (t *borgTool) Name() string     { return "borg" }
func (t *borgTool) Bin() string      { return t.bin }
func (t *borgTool) RepoDir() string  { return filepath.Join(t.dir, "repo") }
func (t *borgTool) StateDir() string { return filepath.Join(t.dir, "base") }
func (t *borgTool) env() []string {
	return []string{"BORG_REPO=" + t.RepoDir(), "BORG_PASSPHRASE=" + benchPassword,
		"BORG_BASE_DIR=" + t.StateDir(), "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes"}
}

func (t *borgTool) Version(ctx context.Context) string {
	r, err := run(ctx, command{name: t.bin, args: []string{"--version"}})
	if err != nil {
		return "unknown"
	}
	return firstLine(r.Stdout)
}

func (t *borgTool) Init(ctx context.Context) error {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	_, err := run(ctx, command{name: t.bin, args: []string{"init", "-e", "repokey"}, env: t.env()})
	return err
}

func (t *borgTool) Backup(ctx context.Context, step int, perf string) (procResult, error) {
	// Relative paths (".") so that extract puts the corpus at the target.
	return run(ctx, command{name: t.bin, args: []string{"create", fmt.Sprintf("::bench-%d", step), "."}, dir: t.src, env: t.env(), perf: perf})
}

func (t *borgTool) Restore(ctx context.Context, dst, perf string) (procResult, string, error) {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return procResult{}, dst, err
	}
	r, err := run(ctx, command{name: t.bin, args: []string{"list", "--last", "1", "--format", "{archive}"}, env: t.env()})
	if err != nil {
		return r, dst, err
	}
	last := strings.TrimSpace(string(r.Stdout))
	r, err = run(ctx, command{name: t.bin, args: []string{"extract", "::" + last}, dir: dst, env: t.env(), perf: perf})
	return r, dst, err
}

// --- rclone crypt ---

type rcloneTool struct {
	toolDir
	bin, src string
	// uploaded is what the last copy transferred, from rclone's own stats.
	uploaded int64
}

func (t *rcloneTool) Name() string     { return "rclone" }
func (t *rcloneTool) Bin() string      { return t.bin }
func (t *rcloneTool) RepoDir() string  { return filepath.Join(t.dir, "repo") }
func (t *rcloneTool) conf() string     { return filepath.Join(t.dir, "rclone.conf") }
func (t *rcloneTool) StateDir() string { return "" }

func (t *rcloneTool) Version(ctx context.Context) string {
	r, err := run(ctx, command{name: t.bin, args: []string{"version"}})
	if err != nil {
		return "unknown"
	}
	return firstLine(r.Stdout) + " (crypt remote, copy)"
}

func (t *rcloneTool) Init(ctx context.Context) error {
	if err := os.MkdirAll(t.RepoDir(), 0o700); err != nil {
		return err
	}
	r, err := run(ctx, command{name: t.bin, args: []string{"obscure", benchPassword}})
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("[benchcrypt]\ntype = crypt\nremote = %s\npassword = %s\n", t.RepoDir(), strings.TrimSpace(string(r.Stdout)))
	return os.WriteFile(t.conf(), []byte(conf), 0o600)
}

func (t *rcloneTool) Backup(ctx context.Context, _ int, perf string) (procResult, error) {
	// JSON logs carry the final transfer stats: what was uploaded is what
	// a small change costs on a remote, whatever the directory grew by.
	r, err := run(ctx, command{name: t.bin, args: []string{"--config", t.conf(), "copy", t.src, "benchcrypt:",
		"--use-json-log", "--stats-log-level", "NOTICE"}, perf: perf})
	if err != nil {
		return r, err
	}
	t.uploaded = -1
	for _, line := range strings.Split(string(r.Stderr), "\n") {
		var l struct {
			Stats *struct {
				Bytes int64 `json:"bytes"`
			} `json:"stats"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Stats != nil {
			t.uploaded = l.Stats.Bytes
		}
	}
	if t.uploaded < 0 {
		return r, fmt.Errorf("rclone copy printed no transfer stats")
	}
	return r, nil
}

// Uploaded is the bytes the last backup transferred to the remote.
func (t *rcloneTool) Uploaded() int64 { return t.uploaded }

func (t *rcloneTool) Restore(ctx context.Context, dst, perf string) (procResult, string, error) {
	r, err := run(ctx, command{name: t.bin, args: []string{"--config", t.conf(), "copy", "benchcrypt:", dst}, perf: perf})
	return r, dst, err
}

// daemonQuietPeriod is the quiet period the daemon runs with in the
// commit → snapshot measurement (the default).
const daemonQuietPeriod = 2 * time.Second

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/repo"
)

// ProfileInfo reports the in-process profiling run.
type ProfileInfo struct {
	FirstBackupS  float64 `json:"first_backup_s"`
	ChangeBackupS float64 `json:"change_backup_s"`
	CPUProfile    string  `json:"cpu_profile"`
	ChangeProfile string  `json:"change_cpu_profile"`
	AllocsProfile string  `json:"allocs_profile"`
	Top           string  `json:"top,omitempty"`
}

// profileBackup runs chatsafe's backup in this process, the way `chatsafe
// backup` does (instance.Open, Repository.Backup, Flush), into a fresh
// repository under work, with the CPU profiler on: first the whole
// corpus (OUT/backup.pprof), then a small change after a checkpoint
// (OUT/backup-change.pprof); OUT/backup-allocs.pprof holds the
// allocations of both.
func profileBackup(ctx context.Context, corpus *Corpus, work, out string) (*ProfileInfo, error) {
	cfg := configs.Default()
	cfg.Source = corpus.Dir
	cfg.StateDir = filepath.Join(work, "state")
	cfg.Remotes = []configs.Remote{{Name: "local", URL: filepath.Join(work, "repo")}}
	cfg.StatusSocket = filepath.Join(work, "chatsafe.sock")
	cfgPath := filepath.Join(work, "config.yaml")
	key, err := crypt.NewKey()
	if err != nil {
		return nil, err
	}
	if err := instance.Create(ctx, cfg, cfgPath, key, nil); err != nil {
		return nil, err
	}
	if cfg, err = configs.Load(cfgPath); err != nil {
		return nil, err
	}
	inst, err := instance.Open(ctx, cfg, instance.Options{})
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	backup := func(name string) (float64, error) {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
		start := time.Now()
		if _, err := inst.Repo.Backup(ctx, repo.BackupOptions{Source: cfg.Source, Exclude: cfg.Excluded}); err != nil {
			return 0, err
		}
		if _, err := inst.Flush(ctx); err != nil {
			return 0, err
		}
		return time.Since(start).Seconds(), nil
	}
	runtime.MemProfileRate = 64 << 10 // finer than the default, still cheap
	info := &ProfileInfo{CPUProfile: filepath.Join(out, "backup.pprof"), ChangeProfile: filepath.Join(out, "backup-change.pprof"), AllocsProfile: filepath.Join(out, "backup-allocs.pprof")}
	if info.FirstBackupS, err = backup("backup.pprof"); err != nil {
		return nil, fmt.Errorf("first backup: %w", err)
	}
	if _, err := corpus.Writer.SmallChange(ctx, 100, 100); err != nil {
		return nil, err
	}
	if err := corpus.Writer.Checkpoint(ctx); err != nil {
		return nil, err
	}
	if info.ChangeBackupS, err = backup("backup-change.pprof"); err != nil {
		return nil, fmt.Errorf("backup after a small change: %w", err)
	}
	f, err := os.Create(info.AllocsProfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return nil, err
	}
	logf("profiles: first backup %.2fs, small change %.2fs; see `go tool pprof -top %s`", info.FirstBackupS, info.ChangeBackupS, info.CPUProfile)
	// The top of the profile, when the go tool is at hand.
	if top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", info.CPUProfile).Output(); err == nil {
		info.Top = string(top)
		fmt.Fprintf(os.Stderr, "%s\n", top)
	}
	return info, nil
}

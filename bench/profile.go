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

	"github.com/chatsafe/chatsafe/backup"
	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/restore"
)

// ProfileInfo reports the in-process profiling run.
type ProfileInfo struct {
	FirstBackupS   float64 `json:"first_backup_s"`
	ChangeBackupS  float64 `json:"change_backup_s"`
	RestoreS       float64 `json:"restore_s"`
	CPUProfile     string  `json:"cpu_profile"`
	ChangeProfile  string  `json:"change_cpu_profile"`
	RestoreProfile string  `json:"restore_cpu_profile"`
	AllocsProfile  string  `json:"allocs_profile"`
	Top            string  `json:"top,omitempty"`
	RestoreTop     string  `json:"restore_top,omitempty"`
}

// profileBackup runs chatsafe's backup in this process, the way `chatsafe
// backup` does (instance.Open, backup.Run, Store.Sync), into a fresh
// repository under work, with the CPU profiler on: first the whole
// corpus (OUT/backup.pprof), then a small change after a checkpoint
// (OUT/backup-change.pprof), then a restore of the result
// (OUT/restore.pprof); OUT/backup-allocs.pprof holds the allocations of
// all three.
func profileBackup(ctx context.Context, corpus *Corpus, work, out string) (*ProfileInfo, error) {
	cfg := configs.Default()
	cfg.Source = corpus.Dir
	cfg.SetStateDir(filepath.Join(work, "state"))
	cfg.Remotes = []configs.Remote{{Name: "local", URL: filepath.Join(work, "repo")}}
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
	// profiled runs fn under the CPU profiler into OUT/name.
	profiled := func(name string, fn func() error) (float64, error) {
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
		err = fn()
		return time.Since(start).Seconds(), err
	}
	timedBackup := func(name string) (float64, error) {
		return profiled(name, func() error {
			if _, err := backup.Run(ctx, inst.Store, backup.Options{Source: cfg.Source, Exclude: cfg.Excluded}); err != nil {
				return err
			}
			_, err := inst.Store.Sync(ctx)
			return err
		})
	}
	runtime.MemProfileRate = 64 << 10 // finer than the default, still cheap
	info := &ProfileInfo{CPUProfile: filepath.Join(out, "backup.pprof"), ChangeProfile: filepath.Join(out, "backup-change.pprof"),
		RestoreProfile: filepath.Join(out, "restore.pprof"), AllocsProfile: filepath.Join(out, "backup-allocs.pprof")}
	if info.FirstBackupS, err = timedBackup("backup.pprof"); err != nil {
		return nil, fmt.Errorf("first backup: %w", err)
	}
	if _, err := corpus.Writer.SmallChange(ctx, 100, 100); err != nil {
		return nil, err
	}
	if err := corpus.Writer.Checkpoint(ctx); err != nil {
		return nil, err
	}
	if info.ChangeBackupS, err = timedBackup("backup-change.pprof"); err != nil {
		return nil, fmt.Errorf("backup after a small change: %w", err)
	}
	dst := filepath.Join(work, "restored")
	defer os.RemoveAll(dst)
	if info.RestoreS, err = profiled("restore.pprof", func() error {
		_, err := restore.Run(ctx, inst.Store, restore.Options{Target: dst})
		return err
	}); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	f, err := os.Create(info.AllocsProfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return nil, err
	}
	logf("profiles: first backup %.2fs, small change %.2fs, restore %.2fs; see `go tool pprof -top %s`", info.FirstBackupS, info.ChangeBackupS, info.RestoreS, info.CPUProfile)
	// The top of the profiles, when the go tool is at hand.
	info.Top = pprofTop(ctx, info.CPUProfile)
	info.RestoreTop = pprofTop(ctx, info.RestoreProfile)
	return info, nil
}

// pprofTop returns `go tool pprof -top` of a profile (and logs it), or ""
// when the go tool is not at hand.
func pprofTop(ctx context.Context, profile string) string {
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", profile).Output()
	if err != nil {
		return ""
	}
	fmt.Fprintf(os.Stderr, "%s\n", top)
	return string(top)
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/internal/cmdline"
)

// Created reports a new installation made by LoadOrCreate. RecoveryKey
// is a secret: show it to the person once and never log it.
type Created struct {
	ConfigPath      string
	RecoveryKey     string
	RecoveryKeyFile string // 0600
}

// RecoveryKeyFileName is the file, beside the config, that keeps the
// recovery key of an installation made on embedded defaults.
const RecoveryKeyFileName = "recovery-key.txt"

// ErrOtherSource means --source names another directory than the source
// of the installation's config: backing it up would mix a second chat
// history into the same repository.
var ErrOtherSource = errors.New("--source names another folder than this installation's source")

// LoadOrCreate finds the configuration for `chatsafe daemon`. configPath
// "" means the default path. A source given on the command line must be
// the config's (the same directory, however spelled): another one is
// refused with ErrOtherSource (and configs.ErrConfig, exit 2), the config
// left as it was. With no config file and a source, it makes a
// new installation on the embedded defaults: a new backup key (its
// recovery key returned in Created and written to a 0600 file beside the
// config) and a local remote; at the default path, state and remote under
// the XDG directories; at another path given with --config, all of it
// beside that file (configs.DefaultFor, as init does).
func LoadOrCreate(ctx context.Context, configPath, source string, log *zap.Logger) (*configs.Config, *Created, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if source != "" {
		abs, err := filepath.Abs(source)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --source %s: %w", configs.ErrConfig, source, err)
		}
		source = abs
	}
	explicit := configPath != ""
	if !explicit {
		configPath = configs.DefaultConfigPath()
	}
	if _, err := os.Stat(configPath); err == nil || source == "" || !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return nil, nil, fmt.Errorf("%w: no config at %s: run `chatsafe daemon --source DIR` to start on defaults, or `chatsafe init --source DIR`", configs.ErrConfig, configPath)
		}
		cfg, err := configs.Load(configPath)
		if err != nil {
			return nil, nil, err
		}
		if source != "" && !sameDir(source, cfg.Source) {
			return nil, nil, otherSource(source, cfg, configPath)
		}
		return cfg, nil, nil
	}

	cfg := configs.DefaultFor(configPath, configs.DefaultConfigPath())
	cfg.Source = source
	cfg.Path = configPath
	if err := cfg.Check(); err != nil {
		return nil, nil, err
	}
	key, err := crypt.NewKey()
	if err != nil {
		return nil, nil, fmt.Errorf("making a backup key: %w", err)
	}
	// The recovery key is written before anything else exists, so that a
	// crash cannot leave an installation whose key was never shown.
	c := &Created{ConfigPath: configPath, RecoveryKey: key.RecoveryKey(), RecoveryKeyFile: filepath.Join(filepath.Dir(configPath), RecoveryKeyFileName)}
	if err := crypt.WriteSecretFile(c.RecoveryKeyFile, []byte(c.RecoveryKey+"\n")); err != nil {
		return nil, nil, fmt.Errorf("saving the recovery key: %w", err)
	}
	if err := instance.Create(ctx, cfg, configPath, key, log); err != nil {
		return nil, nil, fmt.Errorf("setting up a new installation: %w", err)
	}
	loaded, err := configs.Load(configPath)
	if err != nil {
		return nil, nil, err
	}
	log.Info("new installation on embedded defaults", zap.String("config", configPath), zap.String("state_dir", cfg.StateDir),
		zap.String("remote", cfg.Remotes[0].URL), zap.String("key_shown_in", c.RecoveryKeyFile))
	return loaded, c, nil
}

// otherSource is the refusal of a --source that is not cfg's source.
func otherSource(source string, cfg *configs.Config, configPath string) error {
	return fmt.Errorf("%w: %w: %s is not %s, the source in %s; backing it up into this installation would mix two chat histories in one backup. "+
		"To back up %s instead from now on, change the `source:` line of %s and start the daemon again (with that --source, or none); "+
		"to back it up separately, give it an installation of its own: `chatsafe daemon --config NEW-DIR/config.yaml --source %s`",
		configs.ErrConfig, ErrOtherSource, source, cfg.Source, configPath, source, configPath, cmdline.Quote(source))
}

// sameDir reports whether a and b, absolute paths, name one directory:
// their cleaned paths are equal once symlinks are followed where they
// resolve, or both exist and are the same directory (a bind mount, a
// case-insensitive file system).
func sameDir(a, b string) bool {
	if resolved(a) == resolved(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// resolved is p cleaned, its symlinks followed if it resolves.
func resolved(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/check"
	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
)

// CheckOptions are the flags of `chatsafe check`.
type CheckOptions struct {
	Look     lookFlags
	ReadData bool
}

func newCheckCommand(g *globalOptions) *cobra.Command {
	var opts CheckOptions
	cmd := &cobra.Command{
		Use:   "check [--config FILE [--remote NAME] | --remote REMOTE --recovery-key-file FILE] [--read-data]",
		Short: "Verify the repository on every remote, or every byte with --read-data",
		Long: `check verifies the repository on every remote of the config, one after the
other (--remote NAME: that one only): the config, every delta's trailer, the
snapshot chain (missing, replaced or replayed deltas, a rollback), and every
directory and chunk list of every snapshot. With --read-data it also downloads
every delta and authenticates every blob. A remote other than the first is also
compared with the first, which the device reads: a live delta it lacks that no
upload will bring, or deltas of a history the first remote lacks (another
device writing there), is an error; deltas waiting in this device's spool to
be uploaded there are not. When the first remote lost a delta, or holds one
damaged, check asks the other remotes for an intact copy (verified with the
key, as repair verifies one) and names the remote holding it: chatsafe repair
copies it back. Damage inside a delta whose trailer is intact (a blob or the
padding that does not authenticate) is found by --read-data only; check then
treats that delta the same way, and names the repair that reads every blob
too: chatsafe repair --read-data. It also says what each object outside the history is (deltas
past the damage, damaged objects, a prune's leftovers, files that are no
deltas). Exit code 6 means damage was found on some remote, or a forked or
diverged history (both branches are named); the message names the remote and
the object. A remote that cannot be reached is exit code 5 if
nothing worse was found. It does not lock the repository, so it runs beside
the daemon. With --remote and a key (--recovery-key-file or the vault flags)
it needs no config.`,
		Example: `  chatsafe check
  chatsafe check --read-data
  chatsafe check --remote nas`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.Look.register(cmd)
	cmd.Flags().BoolVar(&opts.ReadData, "read-data", false, "download and verify every byte")
	return cmd
}

func runCheck(ctx context.Context, opts CheckOptions, g *globalOptions, stdout, stderr io.Writer) error {
	look, only, err := g.checkedRemote(opts.Look)
	if err != nil {
		return err
	}
	lk, err := g.openLook(ctx, look, prompt{g.stdin, stderr})
	if err != nil {
		return err
	}
	defer lk.closeAll()
	var failed []remoteFailure
	for i, rc := range lk.cfg.Remotes {
		if only != "" && rc.Name != only {
			continue
		}
		if err := checkRemote(ctx, lk, i, checkScope{readData: opts.ReadData, askOthers: only == ""}, stdout, stderr); err != nil {
			failed = append(failed, remoteFailure{rc.Name, err})
		}
		if err := ctx.Err(); err != nil {
			// Interrupted: the remotes left are not checked.
			return fmt.Errorf("check interrupted at remote %s: %w", rc.Name, err)
		}
	}
	return checkFailed(failed)
}

// checkedRemote resolves --remote NAME: a remote the config (--config, or
// the default one) names so is checked alone. Any other --remote is a
// remote to read without a config, as for the other commands, unless it
// was meant as a name: with --config, or a word that is no path, no rclone
// remote and no file here.
func (g *globalOptions) checkedRemote(l lookFlags) (lookFlags, string, error) {
	if l.Remote == "" {
		return l, "", nil
	}
	asName := l.Config != "" || isRemoteName(l.Remote)
	cfg, err := g.loadConfig(l.Config)
	if err != nil {
		if _, serr := os.Stat(g.defaultConfig); asName && (l.Config != "" || serr == nil) {
			return l, "", err
		}
		// No config (a new device): a remote to read.
		return l, "", nil
	}
	var names []string
	for _, rc := range cfg.Remotes {
		if rc.Name == l.Remote {
			only := l.Remote
			l.Remote = ""
			return l, only, nil
		}
		names = append(names, rc.Name)
	}
	if asName {
		return l, "", usageErr(fmt.Errorf("no remote named %q in %s (remotes: %s)", l.Remote, cfg.Path, strings.Join(names, ", ")))
	}
	return l, "", nil
}

// isRemoteName reports whether --remote s reads as a remote's name in the
// config rather than a place: no path separator, no rclone "remote:", and
// nothing of that name here.
func isRemoteName(s string) bool {
	if strings.ContainsAny(s, `/\:`) {
		return false
	}
	_, err := os.Stat(s)
	return errors.Is(err, fs.ErrNotExist)
}

// checkScope is how far one remote's check goes.
type checkScope struct {
	readData bool
	// askOthers: the other remotes may be asked for intact copies of
	// what the first one lost (not with --remote NAME: that one only).
	askOthers bool
}

// checkRemote checks the i-th remote of lk's config and prints what it
// found under a line naming the remote: on stdout when all is well, on
// stderr otherwise. It returns the remote's worst problem.
func checkRemote(ctx context.Context, lk *looked, i int, scope checkScope, stdout, stderr io.Writer) error {
	rc := lk.cfg.Remotes[i]
	header := fmt.Sprintf("remote %s (%s):", rc.Name, remotes.Redact(rc.URL))
	st, opened := lk.store, false
	// What the store logs while it opens the remote goes under its line.
	var logged bytes.Buffer
	if i > 0 {
		s, err := openOther(ctx, lk, i, cliLogger(&logged))
		if err != nil {
			fmt.Fprintln(stderr, header)
			stderr.Write(logged.Bytes())
			if exitCode(err) == exitUnreachable {
				fmt.Fprintln(stderr, "error: could not be reached, not checked:", err)
			} else {
				fmt.Fprintln(stderr, "error:", err)
			}
			return err
		}
		defer s.Close()
		st, opened = s, true
	}
	var bar *progressbar.ProgressBar
	copts := check.Options{ReadData: scope.readData, Opened: opened}
	if scope.readData && isTerminal(stdout) {
		copts.Progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.DefaultBytes(total, "reading "+rc.Name)
			}
			bar.Set64(done)
		}
	}
	res, err := check.Run(ctx, st, copts)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	errs := res.Errors
	var cmp *check.Compared
	if i > 0 && ctx.Err() == nil {
		var cerr error
		cmp, cerr = check.Compare(ctx, lk.store, st)
		cerrs := cmp.Errors
		if cerr != nil {
			cerrs = append(cerrs, cerr)
		}
		errs = append(errs, cerrs...)
	}
	// The remote's worst problem decides, whichever part found it.
	err = worst(append(errs, err))
	out := stdout
	if len(errs) > 0 {
		out = stderr
	}
	fmt.Fprintln(out, header)
	out.Write(logged.Bytes())
	if res.Fork != nil {
		printFork(out, res.Fork, lk.in)
	}
	for _, e := range errs {
		if de, ok := e.(*store.DamageError); ok {
			fmt.Fprintln(out, "error:", damageText(de, lk.withoutConfig()))
			continue
		}
		fmt.Fprintln(out, "error:", e)
	}
	if i == 0 && scope.askOthers && (res.Damage != nil || len(res.DataDamage) > 0) && ctx.Err() == nil {
		printCopies(ctx, lk, out, res.DataDamage)
	}
	if i == 0 && len(res.DataDamage) > 0 {
		printDataDamage(out, res.DataDamage, lk.in)
	}
	if i > 0 && slices.ContainsFunc(errs, func(e error) bool { return errors.Is(e, store.ErrIntegrity) }) {
		fmt.Fprintf(out, "note: %s is not the remote this device reads, and %s repairs that one only; a delta damaged here that the first remote holds intact comes back once you delete it here (a sync that lists this remote afresh, %s when no daemon runs or the daemon's next start, copies it from the first remote)\n", rc.Name, lk.in.Cmd("repair"), lk.in.Cmd("backup"))
	}
	if len(errs) == 0 {
		fmt.Fprintf(out, "no errors: %s, %s, %s", plural(res.Snapshots, "snapshot"), plural(res.Deltas, "delta"), plural(res.Blobs, "blob"))
		if scope.readData {
			fmt.Fprintf(out, ", %s read and verified", humanBytes(res.ReadBytes))
		}
		fmt.Fprintln(out)
	}
	if cmp != nil && len(cmp.Pending) > 0 {
		verb := "wait"
		if len(cmp.Pending) == 1 {
			verb = "waits"
		}
		fmt.Fprintf(out, "%s %s in this device's spool to be uploaded here\n", plural(len(cmp.Pending), "delta"), verb)
	}
	if cmp != nil && len(cmp.Hidden) > 0 {
		printHidden(out, lk.cfg.Remotes[0].Name, cmp.Hidden, lk.in)
	}
	printUnreferenced(out, res.Unreferenced, res.Damage != nil, lk.in)
	return err
}

// openOther opens the repository on the i-th remote of lk's config on its
// own, as that remote holds it: no spool, no trailer cache, no rollback
// guard of this device's.
func openOther(ctx context.Context, lk *looked, i int, log *zap.Logger) (*store.Store, error) {
	if lk.remotes[i] == nil {
		return nil, lk.openErrs[i]
	}
	s, err := store.Open(ctx, lk.remotes[i], lk.key, store.Options{ReadOnly: true, Partial: true, Log: log, ConfigFlag: lk.in.Flag()})
	if errors.Is(err, store.ErrNoRepository) {
		// Not the user's mistake: the first remote holds it, and a sync
		// puts it there.
		return nil, fmt.Errorf("%w: it holds no repository (a remote added to the config and not filled yet, or one emptied); a sync that lists it afresh (%s when no daemon runs, or the daemon's next start) copies the repository there from the first remote; if this device filled it before, it may be a drive or share not mounted, and only %s fills it again", check.ErrDiverged, lk.in.Cmd("backup"), lk.in.Cmd("backup --reseed "+cmdline.Quote(lk.cfg.Remotes[i].Name)))
	}
	if errors.Is(err, store.ErrWrongKey) {
		// The key opened the first remote: not the user's key that is
		// wrong, but what this remote holds.
		return nil, fmt.Errorf("%w: it holds a different or replaced repository: the key that opened the first remote does not open its config; check that the config names the right place, and if the repository there is not needed, empty it: a sync that lists it afresh then copies this one there", check.ErrDiverged)
	}
	return s, err
}

// remoteFailure is a remote check found a problem on, and its worst one.
type remoteFailure struct {
	name string
	err  error
}

// exitSeverity orders the exit codes of one remote's check, worst first:
// the command exits with its remotes' worst; an unreachable remote only if
// nothing worse was found.
var exitSeverity = []int{exitIntegrity, exitWrongKey, exitKeyErased, exitTakenOver, exitPartial, exitUsage, exitFailure, exitUnreachable}

// worst is the error of errs whose exit code is worst (nil if none is an
// error).
func worst(errs []error) error {
	rank := func(err error) int {
		if i := slices.Index(exitSeverity, exitCode(err)); i >= 0 {
			return i
		}
		return len(exitSeverity)
	}
	var w error
	for _, err := range errs {
		if err != nil && (w == nil || rank(err) < rank(w)) {
			w = err
		}
	}
	return w
}

// checkFailedError says which remotes had problems (each printed above);
// it wraps the worst one, which decides the exit code.
type checkFailedError struct {
	names []string
	worst error
}

func (e *checkFailedError) Error() string {
	noun := "remote"
	if len(e.names) > 1 {
		noun = "remotes"
	}
	return fmt.Sprintf("check found problems on %s %s (above)", noun, strings.Join(e.names, ", "))
}

func (e *checkFailedError) Unwrap() error { return e.worst }

func checkFailed(failed []remoteFailure) error {
	if len(failed) == 0 {
		return nil
	}
	e := &checkFailedError{}
	var errs []error
	for _, f := range failed {
		e.names = append(e.names, f.name)
		errs = append(errs, f.err)
	}
	e.worst = worst(errs)
	if errors.Is(e.worst, context.Canceled) {
		return e.worst
	}
	return e
}

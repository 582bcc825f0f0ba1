package main

import (
	"context"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/store"
)

// RepairOptions are the flags of `chatsafe repair`.
type RepairOptions struct {
	Config   string
	DryRun   bool
	ReadData bool
}

func newRepairCommand(g *globalOptions) *cobra.Command {
	var opts RepairOptions
	cmd := &cobra.Command{
		Use:   "repair [--config FILE] [--read-data] [--dry-run]",
		Short: "Make a damaged repository writable again, keeping every intact snapshot",
		Long: `When the newest delta is missing or cannot be verified, chatsafe reads the
newest intact history (snapshots and restore exit 9, "partial") and commits
nothing. repair makes the repository writable again. A delta the first remote
lost or holds damaged that another remote of the config holds intact is copied
back from there: that copy is downloaded and verified with the key (its trailer,
the history's pin of it, every blob) before it is used, and a damaged object of
that name is moved to damaged/ first. When that makes the history whole, that
is all. Otherwise repair keeps the newest head it can fully verify and every
snapshot that head holds, moves every delta newer than that head out of
deltas/ into damaged/ (kept, not deleted: a damaged one can still be examined),
commits an empty head above every sequence ever seen that pins only the intact
deltas, names the snapshots that are lost, and uploads it with any delta this
device still holds in its spool that the remote lost; it cuts nothing while
another remote that might hold a copy cannot be reached. --dry-run prints
exactly this plan and changes nothing. Stop this device's daemon first (it
holds the state directory).

Like check, repair reads every delta's trailer, not its blobs. Damage inside a
delta whose trailer is intact (a flipped byte in a blob) is found only by
reading every blob: check --read-data finds it, and repair --read-data reads
every delta on the first remote the same way (downloading all of it, as check
--read-data does) and treats a delta found so as one the remote holds damaged,
as above: an intact copy from another remote takes its place, or else the
history is cut before it.`,
		Example: `  chatsafe repair --dry-run
  chatsafe repair
  chatsafe repair --read-data --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRepair(cmd.Context(), opts, g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &opts.Config)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what repair would do and change nothing")
	cmd.Flags().BoolVar(&opts.ReadData, "read-data", false, "also download every delta and verify every blob, as check --read-data does")
	return cmd
}

func runRepair(ctx context.Context, opts RepairOptions, g *globalOptions, stdout, stderr io.Writer) error {
	inst, err := g.openInstance(ctx, opts.Config, false, stderr)
	if err != nil {
		return err
	}
	defer inst.Close()
	ropts := store.RepairOptions{DryRun: opts.DryRun, ReadData: opts.ReadData}
	var bar *progressbar.ProgressBar
	if opts.ReadData && isTerminal(stdout) {
		ropts.Progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.DefaultBytes(total, "reading "+inst.Config.Remotes[0].Name)
			}
			bar.Set64(done)
		}
	}
	plan, err := inst.Store.RepairWith(ctx, ropts)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return err
	}
	if plan.Intact() {
		// A damaged one is not repaired on a taken-over device (exit 7).
		warnTakenOver(inst.Store, stderr)
		if opts.ReadData {
			fmt.Fprintf(stdout, "the repository is intact, %s read and verified: nothing to repair\n", humanBytes(plan.ReadBytes))
		} else {
			in := g.installation(inst.Config.Path)
			fmt.Fprintf(stdout, "the repository's history is intact (every delta's trailer and the chain; no blob was read): nothing to repair; damage inside a delta, which only %s finds, is repaired by %s\n", in.Cmd("check --read-data"), in.Cmd("repair --read-data"))
		}
		return nil
	}
	printRepairPlan(stdout, plan, opts.DryRun, opts.ReadData, g.installation(inst.Config.Path))
	if opts.DryRun {
		return nil
	}
	if _, err := inst.Store.Sync(ctx); err != nil {
		if !plan.Cuts() {
			return fmt.Errorf("the deltas copied back are on the first remote; the other remotes get what they lack at the next upload (the daemon's, or the next backup's): %w", err)
		}
		return fmt.Errorf("the repair head is committed here but not uploaded yet (the daemon or the next backup uploads it): %w", err)
	}
	if !plan.Cuts() {
		fmt.Fprintf(stdout, "repaired: the history is whole again at sequence %d, %d snapshots\n", inst.Store.HeadSeq(), len(inst.Store.Snapshots()))
		return nil
	}
	fmt.Fprintf(stdout, "repaired: the repository is writable again at sequence %d, %d snapshots kept\n", plan.NewSeq, len(inst.Store.Snapshots()))
	return nil
}

func printRepairPlan(w io.Writer, p *store.RepairPlan, dry, readData bool, in cmdline.Installation) {
	fmt.Fprintln(w, "damage found:")
	for _, d := range p.Damage {
		fmt.Fprintln(w, "  "+d.String())
	}
	if p.ReadBytes > 0 {
		fmt.Fprintf(w, "(every blob read: %s from the first remote)\n", humanBytes(p.ReadBytes))
	}
	verb := "copied back"
	if dry {
		verb = "copy back"
	}
	for _, c := range p.Copies {
		line := fmt.Sprintf("%s: %s from %s (it holds it intact: verified with the key)", verb, c.Name, c.From)
		if c.Replaces {
			line += "; the damaged object here is moved to damaged/ first"
		}
		fmt.Fprintln(w, line)
	}
	for _, err := range p.Rejected {
		fmt.Fprintln(w, "not used:", err)
	}
	if !p.Cuts() {
		fmt.Fprintf(w, "the history is whole with them: head %s (sequence %d) and its %d snapshots; nothing is moved aside, no repair head is committed\n", p.Keep, p.KeepSeq, p.Snapshots)
	} else {
		printRepairCut(w, p)
	}
	if dry {
		cmd := in.Cmd("repair")
		if readData {
			cmd = in.Cmd("repair --read-data") // plain repair does not see damage inside a delta
		}
		fmt.Fprintf(w, "dry run: nothing was changed; %s does the above\n", cmd)
	}
}

// printRepairCut prints how the repair cuts the history.
func printRepairCut(w io.Writer, p *store.RepairPlan) {
	if len(p.Copies) > 0 {
		fmt.Fprintln(w, "still damaged with them:")
		for _, d := range p.Left {
			fmt.Fprintln(w, "  "+d.String())
		}
	}
	fmt.Fprintf(w, "keep: the newest intact head %s (sequence %d) and its %d snapshots\n", p.Keep, p.KeepSeq, p.Snapshots)
	for _, s := range p.Lost {
		fmt.Fprintf(w, "lose: snapshot %s of %s (sequence %d): its history is past the kept head\n", s.ShortID(), s.Time.Local().Format("2006-01-02 15:04:05"), s.Seq)
	}
	for _, name := range p.MoveAside {
		fmt.Fprintf(w, "move aside: %s -> damaged/ (newer than the kept head: damaged, or pinned by no intact head)\n", name)
	}
	for _, name := range p.Upload {
		fmt.Fprintf(w, "upload: %s from this device's spool (the remote lacks it)\n", name)
	}
	fmt.Fprintf(w, "commit: a repair head at sequence %d, parent %s, pinning %d deltas\n", p.NewSeq, p.Keep, len(p.Pinned))
}

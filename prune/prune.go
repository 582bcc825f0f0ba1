// Package prune owns the retention policy (which snapshots to keep, with
// restic's meanings) and prune: forget the other snapshots, have the store
// rewrite the live blobs of small or mostly-dead deltas into fewer, larger
// ones, and delete what is no longer needed from every remote. It is
// crash-safe at every step: new deltas are written and uploaded before
// anything is deleted, and until the final compaction delta is the head,
// the old deltas stay live. It sees the store through Store.
package prune

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/faults"
	"github.com/chatsafe/chatsafe/store"
)

// Store is what prune needs of the store: its snapshots and files, the
// use of each delta, compaction, sync to the remotes and deletion.
type Store interface {
	Writable() bool
	Exclusive() (unlock func())
	Snapshots() []store.Snapshot
	WalkFiles(ctx context.Context, roots []crypt.ID, file func(tree crypt.ID, n *store.Node, refs []store.ChunkRef) error) (map[crypt.ID]struct{}, error)
	Usage(used map[crypt.ID]struct{}) []store.DeltaUsage
	Compact(ctx context.Context, plan []string, used map[crypt.ID]struct{}, keep map[[16]byte]bool) (*store.CompactResult, error)
	Targets() []*store.Target
	SyncTargets(ctx context.Context, ts []*store.Target) (int, error)
	DeleteGarbage(ctx context.Context, ts []*store.Target) (deleted int, freed int64, err error)
	Fork() *store.Fork
	Damage() *store.DamageError
}

// Options configure Run.
type Options struct {
	Policy Policy
	// MaxUpload bounds the live bytes rewritten by one run (0: unlimited);
	// what is left waits for the next run.
	MaxUpload int64
	// Targets receive the compacted deltas and lose the obsolete ones; nil
	// means every target of the store. The first is the store's own
	// remote, whose freed bytes are reported.
	Targets []*store.Target
	// SmallDelta: deltas smaller than this are merged (default 32 MiB).
	SmallDelta int64
	// DeadRatio: deltas with more than this fraction of unused bytes are
	// rewritten (default 0.2).
	DeadRatio float64
	// Progress, when set, hears the stages prune itself runs (reading the
	// kept snapshots); the store's own Progress reports compaction and
	// deletion.
	Progress store.ProgressFunc
	// DryRun decides and reports without changing anything: a read-only
	// store will do (beside the daemon that holds the state directory).
	DryRun bool
}

// Result reports a prune.
type Result struct {
	Decisions     []Decision // newest first
	Forgotten     int
	Rewritten     int   // deltas compacted
	Written       int   // new deltas
	Deleted       int   // objects deleted, summed over remotes
	UploadedBytes int64 // bytes of new deltas
	FreedBytes    int64 // bytes of obsolete deltas removed (first remote)
}

// Run forgets the snapshots of st outside the policy, compacts and deletes
// what is no longer needed.
func Run(ctx context.Context, st Store, opts Options) (*Result, error) {
	if !st.Writable() && !opts.DryRun {
		return nil, errors.New("prune needs a writable state directory")
	}
	if opts.SmallDelta <= 0 {
		opts.SmallDelta = 32 << 20
	}
	if opts.DeadRatio <= 0 {
		opts.DeadRatio = 0.2
	}
	if len(opts.Targets) == 0 {
		opts.Targets = st.Targets()
	}
	defer st.Exclusive()()
	// A forked history keeps every delta of every branch until the user
	// resolves it: retention over half a history would drop the other.
	if f := st.Fork(); f != nil {
		return nil, fmt.Errorf("prune: %w", &store.ForkError{Fork: *f})
	}
	// Nothing is committed, compacted or deleted on a damaged repository
	// (docs/format.md, "Damage is contained"): a real run refuses at its
	// commit or its deletion, and a dry run says so, not what it would do.
	if opts.DryRun {
		if d := st.Damage(); d != nil {
			return nil, fmt.Errorf("prune: %w", d)
		}
	}

	// Everything pending goes up first, so the remotes agree on the head.
	if !opts.DryRun {
		if _, err := st.SyncTargets(ctx, opts.Targets); err != nil {
			return nil, err
		}
	}

	snaps := st.Snapshots()
	if err := CheckForgetDevices(snaps, opts.Policy); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	decisions := ApplyPolicy(snaps, opts.Policy)
	res := &Result{Decisions: decisions}
	keep := map[[16]byte]bool{}
	var kept []store.Snapshot
	for _, d := range decisions {
		if d.Keep {
			keep[d.Snapshot.ID] = true
			kept = append(kept, d.Snapshot)
		} else {
			res.Forgotten++
		}
	}
	stage := fmt.Sprintf("reading the kept snapshots (%d)", len(kept))
	report(opts.Progress, stage, 0, len(kept))
	used, err := usedBlobs(ctx, st, kept)
	if err != nil {
		return nil, fmt.Errorf("prune: reading the kept snapshots: %w", err)
	}
	report(opts.Progress, stage, len(kept), len(kept))

	plan := planCompaction(st.Usage(used), opts)
	if opts.DryRun {
		res.Rewritten = len(plan)
		return res, nil
	}
	if len(plan) > 0 || res.Forgotten > 0 {
		c, err := st.Compact(ctx, plan, used, keep)
		if c != nil {
			res.Rewritten, res.Written, res.UploadedBytes = c.Rewritten, c.Written, c.UploadedBytes
		}
		if err != nil {
			return res, err
		}
		if err := faults.Point("prune:written"); err != nil {
			return res, err
		}
		if _, err := st.SyncTargets(ctx, opts.Targets); err != nil {
			return res, err
		}
		if err := faults.Point("prune:uploaded"); err != nil {
			return res, err
		}
	}
	res.Deleted, res.FreedBytes, err = st.DeleteGarbage(ctx, opts.Targets)
	return res, err
}

func report(p store.ProgressFunc, stage string, done, total int) {
	if p != nil {
		p(stage, done, total)
	}
}

// usedBlobs walks the snapshots and returns every blob they reference.
func usedBlobs(ctx context.Context, st Store, snaps []store.Snapshot) (map[crypt.ID]struct{}, error) {
	roots := make([]crypt.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	// A set, not a list: memory grows with the distinct chunks, not with
	// every reference of every file of every snapshot.
	chunks := map[crypt.ID]struct{}{}
	used, err := st.WalkFiles(ctx, roots, func(_ crypt.ID, _ *store.Node, refs []store.ChunkRef) error {
		for _, c := range refs {
			chunks[c.ID] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	maps.Copy(used, chunks)
	return used, nil
}

// planCompaction picks the deltas to rewrite: small ones and mostly-dead
// ones, oldest first, within the upload budget. A delta holding another
// device's newest snapshot is one like any other: the record it carries
// into the compacted delta keeps the device that took it (trailer version
// 8), so that snapshot is still that device's newest. usage is ascending
// by sequence.
func planCompaction(usage []store.DeltaUsage, opts Options) []string {
	var cands []store.DeltaUsage
	for _, u := range usage {
		dead := u.TotalBytes - u.LiveBytes
		if u.Size < opts.SmallDelta || (u.TotalBytes > 0 && float64(dead)/float64(u.TotalBytes) > opts.DeadRatio) {
			cands = append(cands, u)
		}
	}
	// Rewriting a lone delta that has nothing dead gains nothing.
	if len(cands) == 1 && cands[0].LiveBytes == cands[0].TotalBytes {
		return nil
	}
	var plan []string
	var budget int64
	for _, u := range cands {
		if opts.MaxUpload > 0 && budget+u.LiveBytes > opts.MaxUpload && len(plan) > 0 {
			break
		}
		budget += u.LiveBytes
		plan = append(plan, u.Name)
	}
	return plan
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/store"
)

// What check says about damage beyond naming it: which other remote holds
// an intact copy of what the first remote lost (repair copies it back),
// that another remote's extra deltas are the history the damage hides,
// and what each object outside the history is.

// printCopies looks on the config's other remotes for intact copies of
// the deltas the first remote (lk.store) lost or holds damaged (data: the
// ones --read-data found damaged inside), verifying each as repair would
// (in a temporary directory, removed after), and says what `chatsafe
// repair` (with data, `chatsafe repair --read-data`) will do with them.
func printCopies(ctx context.Context, lk *looked, out io.Writer, data []string) {
	var targets []*store.Target
	for i, rc := range lk.cfg.Remotes {
		switch {
		case i == 0 || i >= len(lk.remotes):
		case lk.remotes[i] != nil:
			targets = append(targets, store.NewTarget(rc.Name, lk.remotes[i]))
		default:
			targets = append(targets, store.BrokenTarget(rc.Name, lk.openErrs[i]))
		}
	}
	if len(targets) == 0 {
		return
	}
	dir, err := os.MkdirTemp("", "chatsafe-check-")
	if err != nil {
		fmt.Fprintln(out, "note: could not look for intact copies on the other remotes:", err)
		return
	}
	defer os.RemoveAll(dir)
	c, err := lk.store.FindCopiesOf(ctx, targets, dir, data)
	if err != nil {
		fmt.Fprintln(out, "note: could not look for intact copies on the other remotes:", err)
		return
	}
	defer c.Close()
	repair := repairCommand(data, lk.in)
	for _, dc := range c.Found {
		fmt.Fprintf(out, "note: remote %s holds an intact copy of %s: %s copies it back\n", dc.From, dc.Name, repair)
	}
	if len(c.Found) > 0 && c.After() == nil {
		fmt.Fprintln(out, "note: with the copies back the history is whole again: no snapshot is lost")
	}
	for _, err := range c.Rejected {
		fmt.Fprintf(out, "note: not used: %v\n", err)
	}
	for _, err := range c.Unasked {
		fmt.Fprintln(out, "note: could not be asked for an intact copy:", err)
	}
	if len(c.Lost) > 0 && len(c.Unasked) == 0 {
		fmt.Fprintf(out, "note: no other remote holds an intact copy of %s: %s moves the history past it to damaged/\n", strings.Join(c.Lost, ", "), repair)
	}
}

// repairCommand is the repair that acts on what check found: with damage
// inside deltas (data), one that reads every blob too.
func repairCommand(data []string, in cmdline.Installation) string {
	if len(data) > 0 {
		return in.Cmd("repair --read-data")
	}
	return in.Cmd("repair")
}

// printDataDamage says that the first remote's damage inside deltas, under
// intact trailers, is seen only by reading blobs, and so repaired by
// `repair --read-data` alone.
func printDataDamage(out io.Writer, data []string, in cmdline.Installation) {
	verb := "hold"
	if len(data) == 1 {
		verb = "holds"
	}
	fmt.Fprintf(out, "note: %s %s damaged bytes under an intact trailer: %s alone reads no blob and does not see them; %s shows what %s does\n",
		strings.Join(data, ", "), verb, in.Cmd("repair"), in.Cmd("repair --read-data --dry-run"), in.Cmd("repair --read-data"))
}

// printHidden says that deltas a remote holds beyond the first remote's
// history are that history, which the first remote's damage hides.
func printHidden(out io.Writer, first string, hidden []store.DeltaInfo, in cmdline.Installation) {
	names := make([]string, len(hidden))
	for i, d := range hidden {
		names[i] = d.Name
	}
	fmt.Fprintf(out, "note: it holds %s that remote %s lost, holds damaged, or cannot reach past its damage: %s (the same history, intact here; see remote %s above for what %s does)\n",
		plural(len(hidden), "delta"), first, strings.Join(names, ", "), first, in.Cmd("repair"))
}

// printUnreferenced says what the objects under deltas/ outside the
// history checked are, a line for each kind; damaged: the first remote is
// damaged (prune deletes nothing until it is repaired).
func printUnreferenced(out io.Writer, objs []store.Unreferenced, damaged bool, in cmdline.Installation) {
	count := map[store.UnrefKind]int{}
	for _, o := range objs {
		count[o.Kind]++
	}
	if n := count[store.UnrefPastDamage]; n > 0 {
		fmt.Fprintf(out, "%s past the damage: intact, but no intact head pins them (the history stops at the missing or damaged delta); %s copies back what they lack from another remote that holds it, or else moves them to damaged/\n", plural(n, "delta"), in.Cmd("repair"))
	}
	if n := count[store.UnrefDamaged]; n > 0 {
		fmt.Fprintf(out, "%s named like deltas that cannot be read, or are not the delta the history pins (damaged, truncated, replaced, or no chatsafe delta): %s moves them to damaged/\n", plural(n, "object"), in.Cmd("repair"))
	}
	if n := count[store.UnrefSuperseded]; n > 0 {
		when := ""
		if damaged {
			when = " once the repository is repaired"
		}
		fmt.Fprintf(out, "%s older than the head that no delta lists (left behind by a compaction, an interrupted prune or a repair): %s removes them%s\n", plural(n, "unreferenced delta"), in.Cmd("prune"), when)
	}
	if n := count[store.UnrefAhead]; n > 0 {
		fmt.Fprintf(out, "%s at or past the head that its history does not list (another device's): not read, and never deleted by prune\n", plural(n, "delta"))
	}
	if n := count[store.UnrefUnknown]; n > 0 {
		fmt.Fprintf(out, "%s under deltas/ not named like a delta: chatsafe neither reads nor deletes them\n", plural(n, "file"))
	}
}

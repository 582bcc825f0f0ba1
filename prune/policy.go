package prune

import (
	"fmt"
	"sort"
	"time"

	"github.com/chatsafe/chatsafe/store"
)

// Policy says which snapshots to keep, with restic's meanings: the newest
// KeepLast snapshots, and the newest snapshot in each of the last
// KeepHourly hours, KeepDaily days, … that have snapshots. -1 means
// unlimited; a policy of all zeros keeps everything. Whatever the rules
// say, the newest snapshot of each device other than the writer is kept
// (devices.go), unless ForgetDevices names that device.
type Policy struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly int
	// ForgetDevices names devices whose newest snapshot the rules alone
	// decide (`prune --forget-device`): a device id, a prefix of it (4 hex
	// digits or more), or the "HOST/abcd1234" `snapshots` shows.
	ForgetDevices []string
}

// Empty reports whether the policy has no rule (and so keeps everything).
func (p Policy) Empty() bool {
	return p.KeepLast == 0 && p.KeepHourly == 0 && p.KeepDaily == 0 && p.KeepWeekly == 0 && p.KeepMonthly == 0
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot store.Snapshot
	Keep     bool
	Reasons  []string // e.g. "last", "hourly", "daily", "newest of device HOST/abcd1234"
	// NewestOf, when set, names the device ("HOST/abcd1234") whose newest
	// snapshot this is: that device no longer writes, and its last state
	// is kept whatever the rules say. ByPolicy then says whether the
	// rules alone keep it too.
	NewestOf string
	ByPolicy bool
}

type rule struct {
	name   string
	n      int
	bucket func(time.Time) string
}

func sortedNewestFirst(snaps []store.Snapshot) []store.Snapshot {
	sorted := append([]store.Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq > sorted[j].Seq })
	return sorted
}

// ApplyPolicy decides for each snapshot, newest first. A name in
// p.ForgetDevices that matches no device is ignored here
// (CheckForgetDevices reports it).
func ApplyPolicy(snaps []store.Snapshot, p Policy) []Decision {
	sorted := sortedNewestFirst(snaps)
	out := make([]Decision, len(sorted))
	if p.Empty() {
		for i, s := range sorted {
			out[i] = Decision{Snapshot: s, Keep: true, Reasons: []string{"no policy"}}
		}
		return out
	}
	rules := []rule{
		{"last", p.KeepLast, func(t time.Time) string { return fmt.Sprint(t.UnixNano()) }},
		{"hourly", p.KeepHourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{"daily", p.KeepDaily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.KeepWeekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }},
		{"monthly", p.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") }},
	}
	kept := make([]int, len(rules))
	last := make([]string, len(rules))
	for i, s := range sorted {
		d := Decision{Snapshot: s}
		t := s.Time.Local()
		for j, ru := range rules {
			if ru.n == 0 || (ru.n > 0 && kept[j] >= ru.n) {
				continue
			}
			b := ru.bucket(t)
			if j == 0 {
				b = fmt.Sprint(i) // every snapshot is its own bucket for "last"
			}
			if b != last[j] {
				last[j] = b
				kept[j]++
				d.Keep = true
				d.Reasons = append(d.Reasons, ru.name)
			}
		}
		out[i] = d
	}
	keepDevices(out, sorted, p.ForgetDevices)
	return out
}

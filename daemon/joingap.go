package daemon

import (
	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/store"
)

// noteJoinGap reports, once, that this device's first write after it
// joined continued a head other devices had moved since: a warning in the
// log and, until the daemon stops, in its status. Backups go on: a new
// phone backs up what it has, and the other devices' snapshots stay
// (prune keeps each device's newest). It returns the warning's text.
func (d *Daemon) noteJoinGap(g *store.JoinGap) string {
	msg := g.String()
	n := g.Newest()
	d.log.Warn("the first snapshot since this device joined continues snapshots another device committed after it joined; they may hold what its chats lack",
		zap.Uint64("joined_seq", g.JoinSeq), zap.Uint64("continued_seq", g.HeadSeq), zap.Int("other_snapshots", len(g.Snapshots)),
		zap.String("newest_other", n.ShortID()), zap.String("detail", msg))
	d.mu.Lock()
	d.joinGap = msg
	d.mu.Unlock()
	d.publishState(true) // the status changed where the state does not show it
	return msg
}

// warnings are the status's warnings.
func (d *Daemon) warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.joinGap == "" {
		return nil
	}
	return []string{d.joinGap}
}

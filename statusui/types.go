package statusui

import (
	"context"
	"time"

	"github.com/chatsafe/chatsafe/statusapi"
)

// Backend is what the daemon provides to the page: the status API's own
// documents plus the short history behind the charts, and pause/resume.
type Backend interface {
	Status() statusapi.Status
	Snapshots() []statusapi.Snapshot
	Backup(ctx context.Context, req statusapi.BackupRequest) (statusapi.BackupResult, error)
	History() History
	// SetPaused stops (true) or restarts (false) the backups that changes
	// to the source start; a backup asked for still runs.
	SetPaused(ctx context.Context, paused bool) error
}

// History is what the daemon remembers of its recent work (bounded),
// since it started: its cycles and uploads are not kept across restarts.
type History struct {
	Since   time.Time    `json:"since"` // when the daemon started
	Paused  bool         `json:"paused"`
	Cycles  []Cycle      `json:"cycles"`  // oldest first
	Uploads []Upload     `json:"uploads"` // oldest first
	Errors  []ErrorEntry `json:"errors"`  // oldest first
}

// Cycle is one backup cycle.
type Cycle struct {
	Time       time.Time `json:"time"`
	TookS      float64   `json:"took_s"`
	AddedBytes int64     `json:"added_bytes"`
	Snapshot   string    `json:"snapshot,omitempty"` // short id; "" when unchanged or failed
	Unchanged  bool      `json:"unchanged,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Upload is one delta that reached a remote.
type Upload struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote"`
	Delta  string    `json:"delta"`
	Bytes  int64     `json:"bytes"`
}

// ErrorEntry is one failure the daemon reported.
type ErrorEntry struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote,omitempty"` // "" for a backup cycle
	Error  string    `json:"error"`
}

// State is the document of GET /api/state.
type State struct {
	Status    statusapi.Status     `json:"status"`
	Snapshots []statusapi.Snapshot `json:"snapshots"` // newest first, at most maxSnapshots
	History   History              `json:"history"`
	// Alerts are what the status tells the user to act on (never null).
	Alerts []Alert `json:"alerts"`
}

const maxSnapshots = 50

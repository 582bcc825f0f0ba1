// Package statusapi owns the daemon's local HTTP+JSON API on its unix
// socket: the documents it exchanges (stable JSON, the `--json` output of
// `chatsafe status`), the handlers, and the server that runs them behind
// peercred.Require. The caller check lives in statusapi/peercred, the typed
// client in statusapi/client, and the daemon supplies the data through the
// Backend interface.
package statusapi

import "time"

// States of the daemon, as reported in Status.State.
const (
	StateIdle      = "idle"      // nothing to do
	StateScanning  = "scanning"  // a backup cycle reads the source
	StateUploading = "uploading" // deltas are being sent to a remote
	// StateError: the last cycle failed (LastError says why), or the
	// installation could not be opened for a reason the person must fix
	// (a full disk under the state directory); the daemon retries by itself.
	StateError = "error"
	// StateDegraded: cycles commit, but a remote is failing: its line's
	// LastError says why; it catches up by itself once it works again.
	StateDegraded = "degraded"
	// StateTakenOver: another device writes the repository now; this one
	// backs up nothing until `chatsafe takeover` (TakenOver says who).
	StateTakenOver = "taken_over"
	// StateForked: two devices wrote at once; nothing is committed or
	// pruned until `chatsafe fork resolve` (Fork names the branches).
	StateForked = "forked"
	StatePaused = "paused" // backups paused from the status page
	// StateDamaged: the newest delta is missing or cannot be verified;
	// older snapshots stay readable, nothing is committed until
	// `chatsafe repair` (Damage names the objects).
	StateDamaged = "damaged"
	// StateStarting: the daemon is opening the repository (its first
	// try, which may retry a remote for up to retry_for).
	StateStarting = "starting"
	// StateOffline: the first remote (or the vault) is out of reach.
	// Before the repository opened (RepositoryID ""), the daemon tries
	// again with a back-off (LastError says when) and backs nothing up.
	// Opened (from the state directory, or before the remote went away),
	// it backs up into the spool: Offline says how many snapshots wait
	// for the remote's check before they are uploaded.
	StateOffline = "offline"
)

// Status is the document of GET /v1/status.
type Status struct {
	State         string         `json:"state"`
	Source        string         `json:"source"`
	LastSnapshot  *Snapshot      `json:"last_snapshot"` // null before the first snapshot
	LastError     string         `json:"last_error,omitempty"`
	PendingDeltas int            `json:"pending_deltas"` // spooled, not yet on every remote
	Remotes       []RemoteStatus `json:"remotes"`
	KeySource     string         `json:"key_source"` // cache (the key file), keyring, vault or recovery-key
	UptimeS       int64          `json:"uptime_s"`
	Version       string         `json:"version"`
	PID           int            `json:"pid"`
	LastPrune     *Prune         `json:"last_prune"` // null before the first scheduled prune
	// RepositoryID (hex) and Config (the config file's path) name the
	// installation this daemon serves, so a client pointed at another
	// installation's socket can tell; RepositoryID is "" while starting.
	RepositoryID string `json:"repository_id"`
	Config       string `json:"config"`
	// Warnings are what the user should know that stops nothing: this
	// device's first snapshot after it joined continued a head other
	// devices had moved since (their snapshots may hold what it lacks).
	Warnings []string `json:"warnings,omitempty"`
	// TakenOver is set while another device writes the repository.
	TakenOver *TakenOver `json:"taken_over,omitempty"`
	// Fork is set while the repository's history is forked.
	Fork *Fork `json:"fork,omitempty"`
	// Damage is set while the repository is damaged: each entry names an
	// object and what is wrong with it.
	Damage []string `json:"damage,omitempty"`
	// Offline is set while the daemon backs up without its first remote.
	Offline *Offline `json:"offline,omitempty"`
	// Vault is what the vault last said of the account's password (with
	// a vault, once this device asked it: every commit does).
	Vault *Vault `json:"vault,omitempty"`
}

// Vault is what the vault last told this device of the password that
// keeps the backup key: the wrong passwords it counted since the password
// last worked, and whether it erased the key.
type Vault struct {
	Erased         bool      `json:"erased"`
	FailedAttempts int       `json:"failed_attempts"`
	AttemptsLeft   int       `json:"attempts_left"`
	Since          time.Time `json:"since,omitzero"` // when this device first learned of them
	// Warning says what it means and what to do ("" when all is well).
	Warning string `json:"warning,omitempty"`
}

// Offline says what the daemon backed up without its first remote.
type Offline struct {
	// Snapshots committed into the spool without the remote's check,
	// waiting for it before they are uploaded.
	Snapshots int `json:"snapshots"`
	// FromState: the repository was opened from the state directory (the
	// first remote was out of reach at start) and not read since.
	FromState bool `json:"from_state"`
}

// TakenOver names the device that writes the repository now.
type TakenOver struct {
	Device   string    `json:"device"` // hex
	Hostname string    `json:"hostname"`
	Time     time.Time `json:"time"` // of its newest delta
}

// Fork describes a forked history: from Seq on, two branches.
type Fork struct {
	Seq      uint64       `json:"seq"`
	Branches []ForkBranch `json:"branches"`
}

// ForkBranch is one side of a fork, named by its newest delta.
type ForkBranch struct {
	Delta     string    `json:"delta"` // the newest delta's id, hex
	Seq       uint64    `json:"seq"`
	Device    string    `json:"device"`
	Hostname  string    `json:"hostname"`
	Time      time.Time `json:"time"`
	Snapshots []string  `json:"snapshots"` // ids, from the fork on
}

// Snapshot describes one committed snapshot.
type Snapshot struct {
	ID       string    `json:"id"` // full id, hex
	ShortID  string    `json:"short_id"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname,omitempty"`
	// Device is the writing device's id (hex); absent before format 3.
	Device string `json:"device,omitempty"`
	Source string `json:"source,omitempty"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
	// Incomplete lists the paths that could not be read when this
	// snapshot was taken; each keeps its previous version (or is absent
	// if it never had one).
	Incomplete []Omission `json:"incomplete,omitempty"`
}

// Omission is a path a snapshot could not read, and why.
type Omission struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// RemoteStatus is one remote's upload queue. Name and URL never carry
// credentials.
type RemoteStatus struct {
	Name       string     `json:"name"`
	Remote     string     `json:"remote"` // where it is: its configured URL, redacted
	LastUpload *time.Time `json:"last_upload"`
	Queued     int        `json:"queued"` // live deltas this remote does not hold yet
	Uploading  bool       `json:"uploading"`
	LastError  string     `json:"last_error"`
}

// BackupRequest is the body of POST /v1/backup.
type BackupRequest struct {
	// Full asks for a scan of the whole tree (the daemon always scans the
	// whole tree today, using its file cache).
	Full bool `json:"full"`
	// Reseed names remotes that held the repository, lost it, and are to
	// be filled again (store.Reseed): a new, empty location on purpose.
	Reseed []string `json:"reseed,omitempty"`
	// WaitUpload asks for the answer once every remote was tried with the
	// deltas to upload (BackupResult), as `chatsafe backup` does; without
	// it (the status page) the answer comes once the cycle committed, and
	// Unreachable is what each remote's last try found.
	WaitUpload bool `json:"wait_upload,omitempty"`
}

// BackupResult answers POST /v1/backup once the cycle committed (or
// found nothing changed) and, with WaitUpload, every remote's uploader
// tried the deltas to upload (uploaded them, or failed), or 2 minutes
// passed with the upload going on, which continues in the background.
type BackupResult struct {
	Snapshot      *Snapshot `json:"snapshot"`
	Unchanged     bool      `json:"unchanged"`
	Deltas        int       `json:"deltas"`
	AddedBytes    int64     `json:"added_bytes"`
	ReadBytes     int64     `json:"read_bytes"`
	PendingDeltas int       `json:"pending_deltas"`
	Warnings      []string  `json:"warnings,omitempty"`
	// Unreachable names the remotes that lack some of the deltas to upload
	// (this backup's, or ones that waited) and were out of reach when the
	// daemon tried them for this backup (an error of ClassUnreachable;
	// without WaitUpload, at their last try),
	// each with that error, and those that did not answer at all before
	// the answer was due. The uploads go on in the background; `chatsafe
	// backup` exits 5, as a backup run without the daemon does.
	Unreachable []RemoteError `json:"unreachable,omitempty"`
	// Uploading names the remotes whose upload was still going on when
	// the daemon answered (it waits for the backup's upload up to 2
	// minutes, and not past that for one that makes progress): it
	// continues in the daemon.
	Uploading []string `json:"uploading,omitempty"`
}

// RemoteError is a remote, by name, and its error.
type RemoteError struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

// LogLevel is the body of PUT /v1/loglevel and its answer.
type LogLevel struct {
	Level string `json:"level"`
}

// Prune reports the daemon's last scheduled prune.
type Prune struct {
	Time          time.Time `json:"time"`
	TookS         float64   `json:"took_s"`
	Error         string    `json:"error,omitempty"`
	Forgotten     int       `json:"forgotten"`
	Rewritten     int       `json:"rewritten"`
	Written       int       `json:"written"`
	Deleted       int       `json:"deleted"`
	UploadedBytes int64     `json:"uploaded_bytes"`
	FreedBytes    int64     `json:"freed_bytes"`
}

// Event types of GET /v1/events.
const (
	EventState    = "state"    // the state changed, or the status did where the state does not show it
	EventSnapshot = "snapshot" // a snapshot was committed
	EventUploaded = "uploaded" // a delta reached a remote
	EventError    = "error"    // a cycle or an upload failed
	EventPruned   = "pruned"   // a scheduled prune ended (Error set if it failed)
	// EventTakenOver: another device took over; Error says who.
	EventTakenOver = "taken_over"
	// EventDamaged: the head cannot be verified; Error names the objects.
	EventDamaged = "damaged"
)

// Event is one line of the GET /v1/events stream (newline-delimited JSON).
type Event struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	State    string    `json:"state,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Delta    string    `json:"delta,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"` // an uploaded delta's size
	Error    string    `json:"error,omitempty"`
}

// ErrorBody is what every non-2xx JSON answer holds.
type ErrorBody struct {
	Error string `json:"error"`
	// Class says what kind of failure Error is (one of the Class
	// constants), so that a command the daemon ran for the CLI exits as
	// it would have run in the CLI. Absent when the daemon gave none: an
	// older daemon, or an error that is not the backend's (a bad request).
	Class string `json:"class,omitempty"`
}

package instance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/remotes"
	"github.com/chatsafe/chatsafe/store"
	"github.com/chatsafe/chatsafe/vault"
	vaultclient "github.com/chatsafe/chatsafe/vault/client"
)

// VaultGuard is the vault as the repository's commit point: a
// store.CommitGuard over the account's head record. The store advances it
// once per committed delta, before the delta counts as committed.
//
// The owner proof is the owner token (from the backup key) and the vault
// handle kept on the remotes. A password change (`chatsafe key
// set-password`, on this device or another) registers the account again
// with a new handle and saves it on the remotes, so the guard of a daemon
// that runs meanwhile holds a handle the vault no longer takes: when the
// vault refuses the proof, the guard reads the handle from the remotes
// again and, if it changed, asks once more with it.
//
// Every answer also tells the owner the vault's attempt counter of the
// account and whether it erased the key: the guard keeps the news in the
// state directory (VaultNotice, which status shows) and warns in the log.
type VaultGuard struct {
	c        *vaultclient.Client
	account  string
	key      crypt.Key
	rems     []remotes.Remote // where the handle is kept
	stateDir string           // "": nowhere to keep the notice
	log      *zap.Logger

	mu     sync.Mutex
	handle vault.Handle
	notice VaultNotice // what the vault said last (known)
	known  bool
	warned bool // this process was told of a bad notice
}

// NewVaultGuard makes the guard for a config's vault, authorised by key
// (the owner token) and the vault handle kept on rems (none: an account
// registered without one). A remote that fails to answer, when no other
// holds the handle, is an error.
func NewVaultGuard(ctx context.Context, cfg *configs.Config, key crypt.Key, rems []remotes.Remote) (*VaultGuard, error) {
	c, err := VaultClient(cfg.Key.Vault)
	if err != nil {
		return nil, err
	}
	h, err := FindVaultHandle(ctx, rems)
	if err != nil {
		c.CloseIdleConnections()
		return nil, fmt.Errorf("finding the vault handle for the commit point (check that the remotes are reachable, then try again): %w", err)
	}
	g := &VaultGuard{c: c, account: cfg.Key.Vault.Account, key: key, rems: rems, stateDir: cfg.StateDir, log: zap.NewNop(), handle: h}
	// What an earlier run learned: a warning is repeated only when the
	// news changes (or once per process), and its first time is kept.
	g.notice, g.known, _ = LoadVaultNotice(cfg.StateDir)
	return g, nil
}

// Close releases the client's idle connections.
func (g *VaultGuard) Close() { g.c.CloseIdleConnections() }

// Head returns the head the vault records (zero when none).
func (g *VaultGuard) Head(ctx context.Context) (store.HeadRef, error) {
	var resp vault.HeadResp
	err := g.withHandle(ctx, func(h vault.Handle) (err error) {
		resp, err = g.c.ReadHead(ctx, g.account, g.key, h)
		return err
	})
	if err != nil {
		return store.HeadRef{}, err
	}
	g.note(resp.Account)
	return fromRecord(resp.Head), nil
}

// note keeps what a head answer said of the account's password: in the
// state directory when it changed, and as a warning in the log when it
// is bad and changed, or this process was not told yet.
func (g *VaultGuard) note(a *vault.HeadAccount) {
	if a == nil {
		return // a vault from before it said so
	}
	g.mu.Lock()
	n := noticeOf(*a, g.notice, time.Now())
	changed := !g.known || n != g.notice
	warn := n.Bad() && (changed || !g.warned)
	g.notice, g.known, g.warned = n, true, g.warned || warn
	g.mu.Unlock()
	if changed && g.stateDir != "" {
		if err := saveVaultNotice(g.stateDir, n); err != nil {
			// A command beside a daemon that runs as another user may
			// not write there; the daemon keeps it at its next commit.
			g.log.Debug("could not keep what the vault said of the password", zap.Error(err))
		}
	}
	if warn {
		g.log.Warn(n.Warning(), zap.String("account", g.account), zap.Int("failed_attempts", n.Failed),
			zap.Int("attempts_left", n.Left), zap.Bool("erased", n.Erased))
	}
}

// withHandle runs op with the vault handle. When the vault refuses the
// owner proof it reads the handle from the remotes again, and runs op once
// more if the handle there is another one (the password was changed).
func (g *VaultGuard) withHandle(ctx context.Context, op func(vault.Handle) error) error {
	g.mu.Lock()
	h := g.handle
	g.mu.Unlock()
	err := op(h)
	if !errors.Is(err, vault.ErrNotOwner) {
		return err
	}
	now, ferr := FindVaultHandle(ctx, g.rems)
	if ferr != nil {
		return fmt.Errorf("%w (reading the vault handle from the remotes again, in case the password was changed, failed too: %w)", err, ferr)
	}
	if now == h {
		return fmt.Errorf("%w, with the vault handle the remotes hold: if `chatsafe key set-password` could not save its new handle on a remote, run it again; if the backup key was rotated on another device, join again with the new recovery key (chatsafe init --join)", err)
	}
	g.mu.Lock()
	g.handle = now
	g.mu.Unlock()
	return op(now)
}

// Advance moves the recorded head from prev to next. A vault that records
// no head yet (the vault was added to an existing repository) takes next
// as its first record. Another head recorded means another device
// committed: the error wraps store.ErrTakenOver. An advance whose answer
// was lost and that is then refused because it already took is success.
func (g *VaultGuard) Advance(ctx context.Context, prev, next store.HeadRef) error {
	return g.withHandle(ctx, func(h vault.Handle) error { return g.advance(ctx, h, prev, next) })
}

func (g *VaultGuard) advance(ctx context.Context, h vault.Handle, prev, next store.HeadRef) error {
	resp, err := g.c.MoveHead(ctx, g.account, g.key, h, toRecord(prev), toRecord(next))
	if err == nil {
		g.note(resp.Account)
	}
	var moved vault.HeadMovedError
	if !errors.As(err, &moved) {
		return err
	}
	recorded := fromRecord(moved.Head)
	switch {
	case recorded == next:
		return nil
	case moved.Head.IsZero():
		if err = g.c.AdvanceHead(ctx, g.account, g.key, h, vault.HeadRecord{}, toRecord(next)); !errors.As(err, &moved) {
			return err
		}
		recorded = fromRecord(moved.Head)
	}
	return fmt.Errorf("%w: the vault records sequence %d from device %x, not this device's last commit (sequence %d): %w", store.ErrTakenOver, recorded.Seq, recorded.Device, prev.Seq, err)
}

// CheckHead compares the head the remote serves with the vault's record:
// a record newer than the remote's head means the remote serves an older
// history (a rollback, or the newest deltas held back), and a record of
// the same sequence naming another delta means the remote's history is not
// the one committed. Both wrap store.ErrRollback.
func CheckHead(ctx context.Context, g store.CommitGuard, served store.HeadRef) error {
	rec, err := g.Head(ctx)
	if err != nil {
		return fmt.Errorf("reading the head the vault records: %w", err)
	}
	return compareHead(rec, served)
}

// compareHead is CheckHead's verdict on the vault's record rec.
func compareHead(rec, served store.HeadRef) error {
	switch {
	case rec.Seq > served.Seq:
		return fmt.Errorf("%w: the remote serves sequence %d, but the vault records that sequence %d was committed; the newest deltas were removed or an old copy was put back, or the device that committed them has not uploaded them yet (restore from another remote if you have one, or wait for that device's upload)", store.ErrRollback, served.Seq, rec.Seq)
	case rec.Seq == served.Seq && rec.Seq > 0 && (rec.DeltaID != served.DeltaID || rec.TrailerHash != served.TrailerHash):
		return fmt.Errorf("%w: the remote's newest delta (sequence %d) is not the one the vault records as committed", store.ErrRollback, served.Seq)
	}
	return nil
}

func toRecord(h store.HeadRef) vault.HeadRecord {
	if h == (store.HeadRef{}) {
		return vault.HeadRecord{}
	}
	return vault.HeadRecord{Seq: h.Seq, Delta: h.DeltaID[:], TrailerHash: h.TrailerHash[:], Device: h.Device[:]}
}

func fromRecord(r vault.HeadRecord) store.HeadRef {
	var h store.HeadRef
	h.Seq = r.Seq
	copy(h.DeltaID[:], r.Delta)
	copy(h.TrailerHash[:], r.TrailerHash)
	copy(h.Device[:], r.Device)
	return h
}

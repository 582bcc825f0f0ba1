package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bytemare/ecc"
	"github.com/bytemare/opaque"
	"github.com/chatsafe/chatsafe/crypt"
	"github.com/chatsafe/chatsafe/vault"
)

// Options configures a Client.
type Options struct {
	URLs    []string      // one or more vault base URLs (https://host:port), tried in order
	CAFile  string        // PEM certificate(s) to pin; "" uses the system roots
	Timeout time.Duration // per request; default DefaultTimeout
	// LoginStepTimeout bounds a login's requests after its begin
	// (login/eval, login/ke1, login/finish, login/abort; default
	// DefaultLoginStepTimeout, never more than Timeout), so that a retry
	// after an answer lost to a timeout starts well before the vault's
	// session of the lost answer expires (docs/vault.md, "Attempt
	// counting"). login/begin and login/start keep Timeout: they count the
	// attempt and open its session, and a begin slower than the step
	// everywhere would leave counted sessions to expire at the limit.
	LoginStepTimeout time.Duration
	// KSFParameters overrides the Argon2id parameters (time, KiB,
	// threads); nil keeps the production ones. Only tests and benchmarks
	// set it. It must be the same for registration and recovery of an
	// account: other parameters derive another key (a wrong password).
	KSFParameters []uint64
	// MaxIdleConnsPerHost bounds kept-alive connections per vault node
	// (default 4); a load generator raises it.
	MaxIdleConnsPerHost int
	// MaxAutoWait is the longest failure delay Recover waits out by
	// itself before trying again (default 30s; negative: never wait, return
	// the vault.RetryAfterError).
	MaxAutoWait time.Duration
	// NoThresholdOPRF registers and logs in the way accounts registered
	// before the threshold OPRF do: the password goes to OPAQUE as is, so
	// one node's data directory suffices for an offline guess. Only tests
	// and benchmarks (to compare) set it.
	NoThresholdOPRF bool
}

// Defaults of Options.
const (
	DefaultTimeout = 30 * time.Second
	// DefaultLoginStepTimeout is a third of the vault's default session_ttl
	// (30 s): at the limit-th attempt a session whose answer was lost
	// erases the key when it expires, unless the retry (the same attempt
	// on the next node) succeeded first, and this leaves the retry two
	// thirds of it. Of the steps it bounds only finish commits (a success
	// resets the count): a finish slower than this still commits on its
	// node, releasing the key to nobody, and the retry's replay is not
	// counted (TestLastAttemptSlowFinishIsNotCounted).
	DefaultLoginStepTimeout = 10 * time.Second
)

// Client talks to a vault. It is safe for concurrent use.
type Client struct {
	urls        []string
	caFile      string // Options.CAFile, for the hint when a certificate is refused
	hc          *http.Client
	stepTimeout time.Duration // Options.LoginStepTimeout
	ksfParams   []uint64      // Options.KSFParameters
	maxAutoWait time.Duration
	noTOPRF     bool
}

// New checks the options and prepares the HTTPS client.
func New(opts Options) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("no vault URL given (--vault URL)")
	}
	urls := make([]string, 0, len(opts.URLs))
	for _, raw := range opts.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("vault URL %q must look like https://host:port", raw)
		}
		urls = append(urls, strings.TrimSuffix(u.String(), "/"))
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the vault certificate to pin (--vault-ca): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("vault certificate %s holds no PEM certificate; give the vault's tls/cert.pem", opts.CAFile)
		}
		tcfg.RootCAs = pool
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tcfg,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: opts.Timeout,
		MaxIdleConnsPerHost: cmp.Or(opts.MaxIdleConnsPerHost, 4),
		IdleConnTimeout:     90 * time.Second,
	}
	if opts.MaxAutoWait == 0 {
		opts.MaxAutoWait = 30 * time.Second
	}
	if opts.LoginStepTimeout <= 0 {
		opts.LoginStepTimeout = DefaultLoginStepTimeout
	}
	if opts.KSFParameters == nil {
		ksf, err := testKSF()
		if err != nil {
			return nil, err
		}
		opts.KSFParameters = ksf
	}
	return &Client{
		urls: urls, caFile: opts.CAFile, hc: &http.Client{Transport: tr, Timeout: opts.Timeout}, stepTimeout: min(opts.LoginStepTimeout, opts.Timeout),
		ksfParams: opts.KSFParameters, maxAutoWait: opts.MaxAutoWait, noTOPRF: opts.NoThresholdOPRF,
	}, nil
}

// CloseIdleConnections closes idle connections to the vault.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func (c *Client) opaqueClient() (*opaque.Client, *opaque.ClientOptions, error) {
	oc, err := vault.OpaqueConfig().Client()
	if err != nil {
		return nil, nil, fmt.Errorf("setting up OPAQUE: %w", err)
	}
	return oc, &opaque.ClientOptions{KSFParameters: c.ksfParams}, nil
}

// wrapAEAD derives the key that wraps the backup key from OPAQUE's export
// key, bound to the account name.
func wrapAEAD(exportKey []byte, account string) (*crypt.AEAD, error) {
	k, err := hkdf.Key(sha256.New, exportKey, nil, "chatsafe/v1/vault-wrap/"+account, 32)
	if err != nil {
		return nil, err
	}
	a := crypt.NewAEAD([32]byte(k))
	clear(k)
	return a, nil
}

func wrapAD(account string) []byte { return []byte("chatsafe/v1/vault-backup-key/" + account) }

// Register stores the backup key for account behind password and returns
// the account's new vault handle: keep it on the owner's side (the backup's
// remote, see instance.SaveVaultHandle) and pass it to Recover. Without it
// a login is answered as for an unknown account. The first registration of
// an account needs nothing else; replacing it (a password change, which
// also makes a new handle) needs the same backup key, proven by an owner
// token derived from it.
func (c *Client) Register(ctx context.Context, account string, password []byte, key crypt.Key) (vault.Handle, error) {
	h, err := vault.NewHandle()
	if err != nil {
		return h, err
	}
	return h, c.register(ctx, account, password, key, nil, h[:])
}

// Reregister replaces the account's registration with newKey behind
// password and a new handle, authorised by the owner token of oldKey (the
// key the account holds now); from then on newKey's owner token owns the
// account and oldKey's can neither replace nor delete it. A key rotation
// calls it after switching the backup to newKey.
func (c *Client) Reregister(ctx context.Context, account string, password []byte, oldKey, newKey crypt.Key) (vault.Handle, error) {
	h, err := vault.NewHandle()
	if err != nil {
		return h, err
	}
	return h, c.register(ctx, account, password, newKey, &oldKey, h[:])
}

// register stores key; authKey, when set, is the key whose owner token
// authorises the change (key's token is then stored as the new owner).
func (c *Client) register(ctx context.Context, account string, password []byte, key crypt.Key, authKey *crypt.Key, handle []byte) error {
	if err := vault.CheckAccount(account); err != nil {
		return fmt.Errorf("vault account name: %w", err)
	}
	oc, opts, err := c.opaqueClient()
	if err != nil {
		return err
	}
	defer oc.ClearState()
	// The client deals the threshold OPRF key itself: it draws k, hardens
	// the password with it, and sends each node its share sealed to it.
	var k *ecc.Scalar
	if !c.noTOPRF {
		k = vault.NewTOPRFKey()
		defer k.Zero()
		password = vault.TOPRFDirect(k, account, password)
		defer clear(password)
	}
	regReq, err := oc.RegistrationInit(password)
	if err != nil {
		return fmt.Errorf("starting vault registration: %w", err)
	}
	token := vault.OwnerToken(key, account)
	var newToken []byte
	if authKey != nil {
		token, newToken = vault.OwnerToken(*authKey, account), token
	}
	var start vault.RegisterStartResp
	base, err := c.call(ctx, "", vault.PathRegisterStart, vault.RegisterStartReq{Account: account, Request: regReq.Serialize(), OwnerToken: token}, &start)
	if err != nil {
		return fmt.Errorf("registering %q with the vault: %w", account, err)
	}
	if len(start.Session) != vault.SessionIDLen {
		return fmt.Errorf("registering %q with the vault: %w: malformed answer", account, vault.ErrUnreachable)
	}
	resp, err := oc.Deserialize.RegistrationResponse(start.Response)
	if err != nil {
		return fmt.Errorf("registering %q with the vault: %w: malformed registration response", account, vault.ErrUnreachable)
	}
	var shares []vault.SealedShare
	var threshold int
	if k != nil {
		if len(start.ShareNodes) == 0 {
			return fmt.Errorf("registering %q with the vault: the vault lists no nodes to share the password key with; update the vault", account)
		}
		if shares, threshold, err = vault.DealShares(k, account, start.ShareNodes, start.Threshold); err != nil {
			return fmt.Errorf("registering %q with the vault: %w", account, err)
		}
	}
	record, exportKey, err := oc.RegistrationFinalize(resp, []byte(account), nil, opts)
	if err != nil {
		return fmt.Errorf("registering %q with the vault: %w: bad registration response", account, vault.ErrUnreachable)
	}
	aead, err := wrapAEAD(exportKey, account)
	clear(exportKey)
	if err != nil {
		return err
	}
	wrapped := aead.Seal(nil, key[:], wrapAD(account))
	fin := vault.RegisterFinishReq{Session: start.Session, Record: record.Serialize(), WrappedKey: wrapped, OwnerToken: token, Handle: handle, Shares: shares, Threshold: threshold, NewOwnerToken: newToken}
	if _, err := c.call(ctx, base, vault.PathRegisterFinish, fin, &vault.OKResp{}); err != nil {
		return fmt.Errorf("registering %q with the vault: %w", account, err)
	}
	return nil
}

// retryStart sends the first message of a login to nodes, in order until
// one answers, waiting out short failure delays. It can be sent again: an
// answer that asks to wait created no session.
func (c *Client) retryStart(ctx context.Context, nodes []string, path string, req, start any) (string, error) {
	for tries := 0; ; tries++ {
		base, err := c.callOn(ctx, nodes, path, req, start)
		var ra vault.RetryAfterError
		if !errors.As(err, &ra) || ra.Wait > c.maxAutoWait || tries >= 3 {
			return base, err
		}
		t := time.NewTimer(ra.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("waiting %s for the vault to take the next attempt: %w", ra.Wait, ctx.Err())
		case <-t.C:
		}
	}
}

// Delete removes account from the vault; it needs the account's backup key.
func (c *Client) Delete(ctx context.Context, account string, key crypt.Key) error {
	if err := vault.CheckAccount(account); err != nil {
		return fmt.Errorf("vault account name: %w", err)
	}
	if _, err := c.call(ctx, "", vault.PathDelete, vault.DeleteReq{Account: account, OwnerToken: vault.OwnerToken(key, account)}, &vault.OKResp{}); err != nil {
		return fmt.Errorf("deleting %q from the vault: %w", account, err)
	}
	return nil
}

// call POSTs req to path and decodes the answer into resp. With base == ""
// it tries every URL in order until one answers (a node that is down or
// failing is skipped); otherwise it talks to base only, because sessions
// live on the node that created them. It returns the base that answered.
func (c *Client) call(ctx context.Context, base, path string, req, resp any) (string, error) {
	bases := c.urls
	if base != "" {
		bases = []string{base}
	}
	return c.callOn(ctx, bases, path, req, resp)
}

// callOn is call on bases, tried in order.
func (c *Client) callOn(ctx context.Context, bases []string, path string, req, resp any) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var errs []error
	refused := 0 // nodes whose certificate this client refused
	for _, b := range bases {
		err := c.post(ctx, b, path, body, resp)
		if err == nil {
			return b, nil
		}
		var ne nodeError
		if !errors.As(err, &ne) {
			// An answer from the vault: do not ask another node. After a
			// node that did not answer, it says so: that node may have
			// taken the request (a login/begin it counted).
			if len(errs) > 0 {
				err = fmt.Errorf("%w (%w: %w)", err, errEarlierUnanswered, errors.Join(errs...))
			}
			return b, err
		}
		errs = append(errs, err)
		if ne.certificate {
			refused++
		}
		if ctx.Err() != nil {
			break
		}
	}
	if refused == len(errs) && refused > 0 {
		// No node failed but on its certificate: the configuration is
		// wrong, and trying again later would not help.
		return "", vault.CertificateRefused(errors.Join(errs...))
	}
	return "", fmt.Errorf("%w: %w", vault.ErrUnreachable, errors.Join(errs...))
}

// errEarlierUnanswered is in the chain of an answer that came after an
// earlier node of the same call failed to answer.
var errEarlierUnanswered = errors.New("after a node that did not answer")

// nodeError is a failure of one node (network, TLS, 5xx) that makes the
// client try the next URL. certificate: this client refused the node's
// TLS certificate (the error says what to change).
type nodeError struct {
	err         error
	certificate bool
}

func (e nodeError) Error() string { return e.err.Error() }
func (e nodeError) Unwrap() error { return e.err }

// loginSteps are the requests of a login after its begin: each has
// Options.LoginStepTimeout.
var loginSteps = []string{vault.PathLoginEval, vault.PathLoginKE1, vault.PathLoginFinish, vault.PathLoginAbort}

// errStepTimeout is the cause of a login request's own deadline.
var errStepTimeout = errors.New("no answer in time")

func (c *Client) post(ctx context.Context, base, path string, body []byte, resp any) error {
	u := base + path
	if slices.Contains(loginSteps, path) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.stepTimeout, errStepTimeout)
		defer cancel()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hres, err := c.hc.Do(hreq)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in the message
		}
		if errors.Is(context.Cause(ctx), errStepTimeout) {
			return nodeError{err: fmt.Errorf("%s: no answer within %s: %w", u, c.stepTimeout, err)}
		}
		if hint, ok := certificateHint(err, base, c.caFile); ok {
			return nodeError{err: fmt.Errorf("%s: %w; %s", u, err, hint), certificate: true}
		}
		return nodeError{err: fmt.Errorf("%s: %w", u, err)}
	}
	defer hres.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hres.Body, 64<<10))
	if err != nil {
		if errors.Is(context.Cause(ctx), errStepTimeout) {
			return nodeError{err: fmt.Errorf("%s: answer not read within %s: %w", u, c.stepTimeout, err)}
		}
		return nodeError{err: fmt.Errorf("%s: reading the answer: %w", u, err)}
	}
	if hres.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, resp); err != nil {
			// A transport cancelled at the step's deadline may end the
			// body with a clean EOF: the answer was cut, not malformed.
			if errors.Is(context.Cause(ctx), errStepTimeout) {
				return nodeError{err: fmt.Errorf("%s: answer not read within %s: %w", u, c.stepTimeout, err)}
			}
			return nodeError{err: fmt.Errorf("%s: malformed answer: %w", u, err)}
		}
		return nil
	}
	var er vault.ErrorResp
	_ = json.Unmarshal(raw, &er)
	switch {
	case er.Error == vault.CodeWrongPassword:
		left := 0
		if er.AttemptsLeft != nil {
			left = max(*er.AttemptsLeft, 0)
		}
		return vault.WrongPasswordError{Left: left}
	case er.Error == vault.CodeErased:
		return vault.ErrErased
	case er.Error == vault.CodeHeadMoved:
		var hm struct {
			Head vault.HeadRecord `json:"head"`
		}
		_ = json.Unmarshal(raw, &hm)
		return vault.HeadMovedError{Head: hm.Head}
	case er.Error == vault.CodeNotOwner:
		return vault.ErrNotOwner
	case er.Error == vault.CodeNotFound:
		return vault.ErrNotFound
	case er.Error == vault.CodeAttemptSpent:
		return vault.AttemptSpent(fmt.Errorf("%w: %s: %w", vault.ErrUnreachable, u, errReplayRefused))
	case er.Error == vault.CodeNoShare:
		return fmt.Errorf("%s: %w", u, errNoShare)
	case er.Error == vault.CodeFewShareHolders:
		// A node failure: another node, with its own view of which
		// share holders answer, may take the login.
		return nodeError{err: vault.ShareHoldersError{Node: u, Msg: er.Message}}
	case er.Error == vault.CodeHoldersGone:
		// For good: only the cluster's leader says so, on a current view.
		// Still a node failure, so that a node from before that rule, on
		// a replica behind, does not end the login: the client asks the
		// next node, and a "gone" among the answers wins (toprf.go).
		return nodeError{err: vault.HoldersGoneError{Node: u, Msg: er.Message}}
	case er.Error == vault.CodeTooSoon:
		return vault.RetryAfterError{Wait: time.Duration(max(er.RetryAfterMS, 0)) * time.Millisecond}
	case hres.StatusCode == http.StatusTooManyRequests:
		return rateLimited(hres.Header.Get("Retry-After"))
	case er.Error == vault.CodeRateLimited: // 503: this node is busy; another may not be
		return nodeError{err: fmt.Errorf("%s: %w", u, vault.ErrRateLimited)}
	case hres.StatusCode >= 500:
		return nodeError{err: fmt.Errorf("%s: server error %d: %s", u, hres.StatusCode, er.Message)}
	case er.Error == vault.CodeNoSession:
		return fmt.Errorf("%s: %w", u, errNoSession)
	default:
		return fmt.Errorf("the vault refused the request (%d %s): %s", hres.StatusCode, er.Error, er.Message)
	}
}

// errNoShare is a node that holds no share of the account's key.
var errNoShare = errors.New("this vault node holds no share of this account's key (it joined the vault after the account's password was set)")

// errNoSession is a session the node no longer holds: it expired, the
// node restarted, or the account was registered again meanwhile.
var errNoSession = errors.New("the vault dropped the session (too slow, or the vault restarted); try again")

// errReplayRefused is a login/begin whose element the vault counted
// already (its answer was lost) refused again: an account registered
// before the threshold OPRF cannot take it twice. login.try starts
// once more with a fresh element; the error reaches the user only if that
// is refused too.
var errReplayRefused = errors.New("the vault counted this login's attempt on a node whose answer was lost, and an account registered before the threshold OPRF cannot take it again; running the command again starts a new attempt, which costs one more (registering the password again with `chatsafe key set-password`, where the key is open, moves the account to the threshold OPRF and ends this)")

// rateLimited is vault.ErrRateLimited with the wait the vault asked for
// (Retry-After, in seconds), so the user knows when to try again.
func rateLimited(retryAfter string) error {
	secs, err := strconv.Atoi(strings.TrimSpace(retryAfter))
	if err != nil || secs <= 0 {
		return vault.ErrRateLimited
	}
	return fmt.Errorf("%w: the vault takes requests again in %s", vault.ErrRateLimited, time.Duration(secs)*time.Second)
}

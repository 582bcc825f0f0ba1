package remotes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/fserrors"
	"google.golang.org/api/googleapi"

	b2api "github.com/rclone/rclone/backend/b2/api"
	webdavapi "github.com/rclone/rclone/backend/webdav/api"
)

// Error classes. Every error returned by a Remote from this package wraps at
// most one of them; callers decide with errors.Is. An error wrapping none of
// them (nor a context error) is of unknown cause and may be retried.
var (
	// ErrNotFound: the object (or the directory holding it) does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrUnreachable: network errors, DNS, connection refused, timeouts,
	// 5xx after rclone's own retries. Retrying later will likely help.
	ErrUnreachable = errors.New("remote unreachable")
	// ErrPermanent: auth expired or invalid, quota full, permission denied, a
	// misnamed remote. Retrying won't help until the user acts; see Hint.
	ErrPermanent = errors.New("remote refused the request")
	// ErrBadRemote: the remote does not parse (its syntax, a backend this
	// build lacks, a name missing from rclone.conf, its bwlimit). It is
	// also an ErrPermanent; the CLI calls it bad usage (exit 2).
	ErrBadRemote error = badRemote{}
)

type badRemote struct{}

func (badRemote) Error() string { return "invalid remote" }
func (badRemote) Unwrap() error { return ErrPermanent }

// opError is what every Remote method of this package returns: what was being
// done, on which remote (redacted), the class and the cause.
type opError struct {
	op     string // "put", "get", ...
	name   string // object name, may be ""
	remote string // redacted description of the remote
	info   remoteInfo
	class  error // one of the sentinels, or nil when unknown
	err    error
}

// remoteInfo is what Hint needs to know about the remote an error came from.
type remoteInfo struct {
	backend    string // rclone backend type: "drive", "iclouddrive", ...
	configName string // name of the rclone.conf section, "" for connection strings and paths
	configPath string // rclone.conf in use, for messages
}

func (e *opError) Error() string {
	var b strings.Builder
	b.WriteString(e.op)
	if e.name != "" {
		fmt.Fprintf(&b, " %q", e.name)
	}
	if e.remote != "" {
		b.WriteString(" on ")
		b.WriteString(e.remote)
	}
	b.WriteString(": ")
	if e.class != nil {
		b.WriteString(e.class.Error())
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	if h := hintFor(e); h != "" {
		b.WriteString(" (")
		b.WriteString(h)
		b.WriteString(")")
	}
	return b.String()
}

func (e *opError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// wrapErr classifies err from an rclone call and wraps it with context. ctx is
// the caller's context: when it is done, its error is returned unclassified
// (a cancelled call is neither unreachable nor permanent).
func wrapErr(ctx context.Context, op, name, remote string, info remoteInfo, err error) error {
	if err == nil {
		return nil
	}
	var oe *opError
	if errors.As(err, &oe) {
		return err
	}
	class := classify(err)
	if ctx != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || class == ErrUnreachable || class == nil) {
		// Cancelled by our caller: report that, not a network failure.
		return &opError{op: op, name: name, remote: remote, info: info, err: fmt.Errorf("%w (%v)", ctx.Err(), err)}
	}
	return &opError{op: op, name: name, remote: remote, info: info, class: class, err: err}
}

// classify maps an error from rclone (or the network, or the OS) to one of the
// sentinels, or nil when the cause is unknown.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnreachable), errors.Is(err, ErrPermanent):
		return nil // already carries its class (e.g. from Faulty): don't add a second one
	case errors.Is(err, fs.ErrorObjectNotFound), errors.Is(err, fs.ErrorDirNotFound),
		errors.Is(err, fs.ErrorIsDir), errors.Is(err, fs.ErrorNotAFile), errors.Is(err, os.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrorNotFoundInConfigFile), errors.Is(err, config.ErrorConfigFileNotFound),
		errors.Is(err, fs.ErrorPermissionDenied), errors.Is(err, os.ErrPermission),
		errors.Is(err, syscall.EROFS), fserrors.IsErrNoSpace(err):
		return ErrPermanent
	}
	if code := httpStatus(err); code != 0 {
		switch {
		case code == 404:
			return ErrNotFound
		case code == 429 || code == 408:
			return ErrUnreachable
		case code >= 500 && code != 507:
			return ErrUnreachable
		case code == 403 && isRateLimit(err):
			return ErrUnreachable
		case code == 401 || code == 403 || code == 507 || code == 402 || code == 413:
			return ErrPermanent
		}
	}
	if isRateLimit(err) {
		return ErrUnreachable
	}
	if permanentText(err) {
		return ErrPermanent
	}
	if fserrors.IsFatalError(err) || fserrors.IsNoRetryError(err) {
		return ErrPermanent
	}
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.As(err, &netErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, context.DeadlineExceeded), fserrors.ShouldRetry(err):
		return ErrUnreachable
	}
	return nil
}

// httpStatus digs the HTTP status out of the error types of the shipped
// backends; 0 when there is none.
func httpStatus(err error) int {
	var wd *webdavapi.Error
	if errors.As(err, &wd) {
		return wd.StatusCode
	}
	var b2 *b2api.Error
	if errors.As(err, &b2) {
		return b2.Status
	}
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code
	}
	// The AWS SDK (s3) response errors.
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		return sc.HTTPStatusCode()
	}
	return 0
}

func isRateLimit(err error) bool {
	s := strings.ToLower(err.Error())
	for _, p := range []string{"ratelimitexceeded", "rate limit", "too many requests", "too_many_requests", "slowdown", "throttl"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// permanentPhrases are error texts of the shipped backends that mean the
// user must act: expired or revoked logins, full storage, wrong keys.
// Matching text is a last resort for backends whose errors carry no status.
var permanentPhrases = []string{
	"invalid_grant", "token expired", "expired_access_token", "invalid_access_token", "unauthenticated",
	"unauthorized", "empty token found", "please reauth", "missing pcs cookies", "requestpcs",
	"storagequotaexceeded", "quota exceeded", "quotalimitreached", "insufficient_space", "insufficient storage",
	"insufficient_storage", "cap_exceeded", "storage_cap_exceeded",
	"invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "access denied", "forbidden",
	"unable to decrypt configuration", "couldn't decrypt configuration", "rclone_config_pass",
}

func permanentText(err error) bool {
	s := strings.ToLower(err.Error())
	for _, p := range permanentPhrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Hint returns what the user should do about a permanent error, or "" when
// there is nothing specific (or err is not permanent). The text names the
// rclone remote but never a credential.
func Hint(err error) string {
	if err == nil || !errors.Is(err, ErrPermanent) {
		return ""
	}
	var oe *opError
	if errors.As(err, &oe) {
		return hintFor(oe)
	}
	return hintText(remoteInfo{}, err)
}

func hintFor(e *opError) string {
	if e.class != ErrPermanent {
		return ""
	}
	return hintText(e.info, e.err)
}

func hintText(info remoteInfo, err error) string {
	s := strings.ToLower(err.Error())
	has := func(ps ...string) bool {
		for _, p := range ps {
			if strings.Contains(s, p) {
				return true
			}
		}
		return false
	}
	reconnect := "run `rclone config reconnect " + info.configName + ":` to sign in again"
	if info.configName == "" {
		reconnect = "check the credentials in the remote's connection string"
	}
	code := httpStatus(err)
	switch {
	case errors.Is(err, fs.ErrorNotFoundInConfigFile) || errors.Is(err, config.ErrorConfigFileNotFound):
		return fmt.Sprintf("no such remote in %s: run `rclone config` to create it, or set rclone_config to the file that has it", configLabel(info.configPath))
	case has("unable to decrypt configuration", "couldn't decrypt configuration", "rclone_config_pass"):
		return "rclone.conf is encrypted: set RCLONE_CONFIG_PASS to its password"
	case info.backend == "iclouddrive" && has("missing pcs cookies", "requestpcs"):
		return "iCloud Advanced Data Protection is on: enable 'Access iCloud Data on the Web' on your iPhone, approve the prompt, then run `rclone config reconnect " + info.configName + ":`"
	case info.backend == "iclouddrive" && (has("reauth", "trust token", "2fa") || code == 401 || code == 421):
		return "Apple's 30-day trust token has expired: run `rclone config reconnect " + info.configName + ":` (Apple ID password and a 2FA code)"
	case fserrors.IsErrNoSpace(err) || errors.Is(err, syscall.EROFS):
		return "the disk holding the remote is full or read-only: free space or use another remote"
	case has("storagequotaexceeded", "quota", "insufficient_space", "insufficient storage", "insufficient_storage", "cap_exceeded") || code == 507:
		if info.backend == "drive" {
			return "Google Drive is full: free space (or buy storage) or use another remote"
		}
		return "the remote is full: free space or use another remote"
	case has("invalid_grant", "token expired", "expired_access_token", "invalid_access_token", "unauthenticated", "unauthorized", "empty token found") || code == 401:
		return reconnect
	case has("invalidaccesskeyid", "signaturedoesnotmatch"):
		return "the access key or secret key is wrong: fix them in rclone.conf or the connection string"
	case errors.Is(err, os.ErrPermission) || errors.Is(err, fs.ErrorPermissionDenied) || has("accessdenied", "access denied", "forbidden", "permission denied") || code == 403:
		return "the account may not write there: check the folder's permissions or the account's access rights"
	}
	return ""
}

func configLabel(path string) string {
	if path == "" {
		return "rclone.conf"
	}
	return path
}

// Package client is the typed client of the daemon's status API
// (statusapi) over its unix socket (a named pipe on Windows), for the CLI.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
	"github.com/chatsafe/chatsafe/statusapi/peercred"
)

// ErrNoDaemon means no daemon answers on the socket.
var ErrNoDaemon = errors.New("no chatsafe daemon is running")

// ErrRefused means the daemon refused the caller (another uid, or a
// request from a browser).
var ErrRefused = errors.New("the chatsafe daemon refused the request")

// ErrOffline means the daemon runs, but could not open its repository
// yet (its first remote or the vault is out of reach): try again later.
var ErrOffline = errors.New("the chatsafe daemon runs offline")

// ErrNoAnswer means a daemon takes connections on the socket but does not
// answer: it is stopped (SIGSTOP, a suspended session) or stuck.
var ErrNoAnswer = errors.New("the chatsafe daemon does not answer")

// noAnswerError is ErrNoAnswer with what to do about it.
type noAnswerError struct {
	socket string
	in     cmdline.Installation
	pid    int32 // 0: not known
	after  time.Duration
}

func (e *noAnswerError) Error() string {
	who, check := "the chatsafe daemon", "`ps -eo pid,stat,args | grep 'chatsafe daemon'`"
	if e.pid > 0 {
		who += fmt.Sprintf(" (pid %d)", e.pid)
		check = fmt.Sprintf("`ps -o pid,stat,args -p %d` (stat T: stopped; `kill -CONT %d` lets it go on)", e.pid, e.pid)
	}
	stopped := "stopped (kill -STOP, a suspended session)"
	if runtime.GOOS == "windows" {
		check, stopped = "the Task Manager", "suspended"
	}
	return fmt.Sprintf("%s on %s did not answer within %s: it is %s or stuck. Check it with %s, or restart it: %s, then %s (or end it and run %s again)",
		who, e.socket, e.after, stopped, check, e.in.Cmd("service stop"), e.in.Cmd("service start"), e.in.Cmd("daemon"))
}

func (e *noAnswerError) Unwrap() error { return ErrNoAnswer }

// offlineError is the daemon's message for ErrOffline.
type offlineError string

func (e offlineError) Error() string        { return string(e) }
func (e offlineError) Is(target error) bool { return target == ErrOffline }

// Client talks to one daemon.
type Client struct {
	socket string
	// in is the installation the daemon serves, for the commands the
	// errors name.
	in cmdline.Installation
	hc *http.Client
	// pid is the daemon's, from the peer credentials of the last
	// connection (0: not known), for the message of one that does not
	// answer.
	pid atomic.Int32
}

// New returns a client of the daemon listening on socket.
func New(socket string) *Client { return NewFor(socket, cmdline.Installation{}) }

// NewFor is New for the daemon of installation in: the commands its
// errors name (to start or restart the daemon) carry in's --config.
func NewFor(socket string, in cmdline.Installation) *Client {
	c := &Client{socket: socket, in: in}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := peercred.Dial(ctx, socket)
			if err == nil {
				c.pid.Store(serverPID(conn))
			}
			return conn, err
		},
		DisableCompression: true,
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the daemon's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://chatsafe"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isNoDaemon(err) {
			return nil, fmt.Errorf("%w (nothing listens on %s): start it with %s or %s", ErrNoDaemon, c.socket, c.in.Cmd("daemon"), c.in.Cmd("service start"))
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: %s is not accessible to this user (run chatsafe as the user the daemon runs as): %w", ErrRefused, c.socket, err)
		}
		return nil, fmt.Errorf("asking the daemon on %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		e := readErr(resp.Body)
		switch {
		case resp.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("%w: %s", ErrRefused, e.Error)
		case resp.StatusCode == http.StatusServiceUnavailable:
			return nil, offlineError(e.Error) // the daemon's message says it
		case e.Class != "":
			// The daemon's own error, as it would read here.
			return nil, &statusapi.ClassError{Class: e.Class, Err: errors.New(e.Error)}
		}
		// A daemon older than classes, or no error of its backend.
		return nil, fmt.Errorf("the daemon answered %s %s with %s: %s", method, path, resp.Status, e.Error)
	}
	return resp, nil
}

// readErr reads an error answer: its ErrorBody, or the body as the
// message when it is not one.
func readErr(r io.Reader) statusapi.ErrorBody {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	var e statusapi.ErrorBody
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e
	}
	return statusapi.ErrorBody{Error: strings.TrimSpace(string(b))}
}

func isNoDaemon(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// Status returns the daemon's status document.
func (c *Client) Status(ctx context.Context) (statusapi.Status, error) {
	var s statusapi.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// StatusWithin is Status, given up after d: a daemon that takes a
// connection but does not answer (stopped with SIGSTOP, in a suspended
// session, stuck) gives an error wrapping ErrNoAnswer that names its pid
// when the connection told it.
func (c *Client) StatusWithin(ctx context.Context, d time.Duration) (statusapi.Status, error) {
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	st, err := c.Status(sctx)
	if err != nil && ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return st, &noAnswerError{socket: c.socket, in: c.in, pid: c.pid.Load(), after: d}
	}
	return st, err
}

// Snapshots lists the committed snapshots, oldest first.
func (c *Client) Snapshots(ctx context.Context) ([]statusapi.Snapshot, error) {
	var s []statusapi.Snapshot
	err := c.do(ctx, http.MethodGet, "/v1/snapshots", nil, &s)
	return s, err
}

// Backup asks the daemon for a cycle now and waits until it is committed
// and its upload tried (statusapi.BackupResult).
func (c *Client) Backup(ctx context.Context, req statusapi.BackupRequest) (statusapi.BackupResult, error) {
	var res statusapi.BackupResult
	err := c.do(ctx, http.MethodPost, "/v1/backup", req, &res)
	return res, err
}

// SetLogLevel changes the daemon's log level; it returns the new level.
func (c *Client) SetLogLevel(ctx context.Context, level string) (string, error) {
	var res statusapi.LogLevel
	err := c.do(ctx, http.MethodPut, "/v1/loglevel", statusapi.LogLevel{Level: level}, &res)
	return res.Level, err
}

// Metrics returns the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Events calls fn for every event until ctx is done, fn returns an error,
// or the daemon ends the stream (io.EOF).
func (c *Client) Events(ctx context.Context, fn func(statusapi.Event) error) error {
	st, err := c.Subscribe(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		ev, err := st.Next()
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// Stream is an open GET /v1/events stream.
type Stream struct {
	ctx  context.Context
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Subscribe opens the event stream. It returns once the daemon has
// subscribed it: every event published after that is in the stream.
func (c *Client) Subscribe(ctx context.Context) (*Stream, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &Stream{ctx: ctx, body: resp.Body, sc: sc}, nil
}

// Next waits for the next event; io.EOF when the daemon ended the stream.
func (s *Stream) Next() (statusapi.Event, error) {
	var ev statusapi.Event
	if !s.sc.Scan() {
		if err := s.sc.Err(); err != nil {
			if s.ctx.Err() != nil {
				return ev, s.ctx.Err()
			}
			return ev, fmt.Errorf("reading the event stream: %w", err)
		}
		return ev, io.EOF
	}
	if err := json.Unmarshal(s.sc.Bytes(), &ev); err != nil {
		return ev, fmt.Errorf("reading the event stream: %w", err)
	}
	return ev, nil
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }

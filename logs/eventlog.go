package logs

import (
	"io"
	"strings"

	"go.uber.org/zap/zapcore"
)

// The Windows Event Log (Options.EventLog). A Windows service's stderr goes
// nowhere and its log file is in the state directory, which an
// administrator has to know of; the Event Log is where Windows' own tools
// (Event Viewer, Get-WinEvent) look. It gets the warnings and errors, one
// event each, and what is written to Logger.Out (the daemon's end), not
// the routine info lines, which would crowd out other programs' events.

// eventSink is the Event Log as the logger uses it (*eventlog.Log on
// Windows).
type eventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
	Close() error
}

// openEventLog opens the Event Log under a source name; a variable so that
// tests can put a fake in its place.
var openEventLog = openSystemEventLog

// eventID is the id of every event: the source is registered with
// EventCreate.exe's messages (`chatsafe service install`), which take any
// text for the ids 1 to 1000.
const eventID = 1

// maxEventText bounds an event's text (ReportEvent takes at most 31839
// characters per string).
const maxEventText = 31 << 10

// eventCore writes warnings and errors to the Event Log, in the text
// format without the time (the Event Log records its own).
type eventCore struct {
	zapcore.LevelEnabler
	enc  zapcore.Encoder
	sink eventSink
}

func newEventCore(sink eventSink, level zapcore.LevelEnabler) zapcore.Core {
	c := encoderConfig()
	c.TimeKey = zapcore.OmitKey
	c.EncodeLevel = zapcore.CapitalLevelEncoder
	warn := zapcore.LevelEnabler(levelFunc(func(l zapcore.Level) bool { return l >= zapcore.WarnLevel && level.Enabled(l) }))
	return &eventCore{LevelEnabler: warn, enc: zapcore.NewConsoleEncoder(c), sink: sink}
}

type levelFunc func(zapcore.Level) bool

func (f levelFunc) Enabled(l zapcore.Level) bool { return f(l) }

func (c *eventCore) With(fields []zapcore.Field) zapcore.Core {
	enc := c.enc.Clone()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return &eventCore{LevelEnabler: c.LevelEnabler, enc: enc, sink: c.sink}
}

func (c *eventCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *eventCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	msg := eventText(buf.String())
	buf.Free()
	if e.Level == zapcore.WarnLevel {
		return c.sink.Warning(eventID, msg)
	}
	return c.sink.Error(eventID, msg)
}

func (c *eventCore) Sync() error { return nil }

func eventText(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > maxEventText {
		s = s[:maxEventText] + " [cut]"
	}
	return s
}

// eventWriter makes each Write one error event (Logger.Out's lines: how
// the daemon ended).
type eventWriter struct{ sink eventSink }

func (w eventWriter) Write(p []byte) (int, error) {
	if err := w.sink.Error(eventID, eventText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// eventTee writes to out and to the Event Log, as well as each can.
type eventTee struct {
	out    io.Writer
	events eventWriter
}

func (t eventTee) Write(p []byte) (int, error) {
	_, _ = t.events.Write(p)
	return t.out.Write(p)
}

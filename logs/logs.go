// Package logs owns chatsafe's logger set-up, the one every chatsafe
// process uses (the daemon, the CLI's daemon start-up, the vault server):
// zap with one schema (time, level, logger, msg, then the fields), written
// as text (zap's console encoder) or as JSON lines, as the config says;
// a level that can be changed while running; and a last line of defence
// that redacts fields whose names say they hold a secret (keys,
// passwords, tokens).
package logs

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Options configure New. Level and Format take the values of the config's
// log section.
type Options struct {
	// Level is debug, info, warn or error ("" = info).
	Level string
	// Format is "text" ("" too: zap's console encoder, coloured only on
	// a terminal) or "json" (JSON lines, for a log shipper). Text stays
	// text when the output is a pipe or the journal: the config's word is
	// what the user gets.
	Format string
	// Out receives the log lines (nil = os.Stderr).
	Out io.Writer
	// File, when set, receives the lines too: appended, mode 0600, moved
	// to File.1 past MaxFileBytes. For a process whose stderr nobody
	// reads (a Windows service). Close the Logger to close it.
	File string
	// EventLog, when set, is the source name under which warnings and
	// errors, and what is written to Logger.Out, also go to the Windows
	// Event Log (eventlog.go); Windows only. Close the Logger to close it.
	EventLog string
}

// Logger is a zap logger with its adjustable level.
type Logger struct {
	*zap.Logger
	Level zap.AtomicLevel
	// Out is where the lines go (Options.Out, and the file), for what
	// must reach the same place outside the logger's schema.
	Out    io.Writer
	file   *rotatingFile
	events eventSink
}

// Close flushes the logger and closes its file, if it has one.
func (l *Logger) Close() error {
	_ = l.Sync() // fails on a terminal or pipe; the file is closed anyway
	var err error
	if l.events != nil {
		err = l.events.Close()
	}
	if l.file != nil {
		if ferr := l.file.Close(); err == nil {
			err = ferr
		}
	}
	return err
}

// ParseLevel turns a level name into a zap level, with a message that
// lists the accepted names.
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "", "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
}

// New builds the logger.
func New(opts Options) (*Logger, error) {
	lvl, err := ParseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	// No colour escapes in a file.
	colour := isTerminal(out) && opts.File == ""
	var enc zapcore.Encoder
	switch strings.ToLower(opts.Format) {
	case "json":
		enc = zapcore.NewJSONEncoder(encoderConfig())
	case "", "text":
		c := encoderConfig()
		c.EncodeLevel = zapcore.CapitalLevelEncoder
		c.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00")
		if colour {
			c.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(c)
	default:
		return nil, fmt.Errorf("log format %q is not one of text, json", opts.Format)
	}
	var file *rotatingFile
	if opts.File != "" {
		if file, err = openRotating(opts.File, MaxFileBytes); err != nil {
			return nil, err
		}
		out = teeWriter{file: file, out: out}
	}
	level := zap.NewAtomicLevelAt(lvl)
	var core zapcore.Core = redactCore{zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)}
	l := &Logger{Level: level, Out: out, file: file}
	if opts.EventLog != "" {
		if l.events, err = openEventLog(opts.EventLog); err != nil {
			if file != nil {
				file.Close()
			}
			return nil, err
		}
		// Each core redacts and checks its own level: a tee writes an
		// entry to every core that one of them took it for.
		core = zapcore.NewTee(core, redactCore{newEventCore(l.events, level)})
		l.Out = eventTee{out: out, events: eventWriter{l.events}}
	}
	l.Logger = zap.New(core)
	return l, nil
}

// encoderConfig is the one schema: time, level, logger, msg, then the
// fields; no caller or stack trace (a log line is for the user, not a
// debugger), durations as "1.5s".
func encoderConfig() zapcore.EncoderConfig {
	c := zap.NewProductionEncoderConfig()
	c.TimeKey = "time"
	c.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	c.EncodeDuration = zapcore.StringDurationEncoder
	c.CallerKey = zapcore.OmitKey
	c.StacktraceKey = zapcore.OmitKey
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

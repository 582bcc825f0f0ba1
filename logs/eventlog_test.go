package logs

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// fakeEvents records what would reach the Windows Event Log.
type fakeEvents struct {
	events []string // "KIND: text"
	closed bool
}

func (f *fakeEvents) add(kind string, eid uint32, msg string) error {
	if eid != eventID {
		return fmt.Errorf("event id %d", eid)
	}
	f.events = append(f.events, kind+": "+msg)
	return nil
}
func (f *fakeEvents) Info(eid uint32, msg string) error    { return f.add("INFO", eid, msg) }
func (f *fakeEvents) Warning(eid uint32, msg string) error { return f.add("WARNING", eid, msg) }
func (f *fakeEvents) Error(eid uint32, msg string) error   { return f.add("ERROR", eid, msg) }
func (f *fakeEvents) Close() error                         { f.closed = true; return nil }

// With EventLog set, warnings and errors (redacted like every line) and
// the daemon's end written to Out become events; info lines do not, and
// the level set at run time applies to the Event Log too.
func TestEventLogGetsWarningsAndErrors(t *testing.T) {
	fake := &fakeEvents{}
	var source string
	openEventLog = func(s string) (eventSink, error) { source = s; return fake, nil }
	t.Cleanup(func() { openEventLog = openSystemEventLog })
	var out bytes.Buffer
	l, err := New(Options{Level: "info", Out: &out, EventLog: "chatsafe"})
	if err != nil {
		t.Fatal(err)
	}
	if source != "chatsafe" {
		t.Fatalf("opened the Event Log as %q", source)
	}
	l.Info("routine", zap.Int("n", 1))
	l.Named("sync").Warn("remote slow", zap.String("remote", "gdrive"))
	l.With(zap.String("password", "hunter2")).Error("vault refused", zap.String("api_key", "k3y"))
	fmt.Fprintf(l.Out, "chatsafe: the end\nchatsafe: exiting with code 5\n")
	l.Level.SetLevel(zap.ErrorLevel)
	l.Warn("not any more")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WARNING: WARN\tsync\tremote slow\t{\"remote\": \"gdrive\"}",
		"ERROR: ERROR\tvault refused\t{\"password\": \"[redacted]\", \"api_key\": \"[redacted]\"}",
		"ERROR: chatsafe: the end\nchatsafe: exiting with code 5",
	}
	if strings.Join(fake.events, "|") != strings.Join(want, "|") {
		t.Fatalf("events:\n%q\nwant\n%q", fake.events, want)
	}
	if !fake.closed {
		t.Fatal("Close left the Event Log open")
	}
	if s := out.String(); !strings.Contains(s, "routine") || !strings.Contains(s, "the end") || strings.Contains(s, "hunter2") {
		t.Fatalf("stderr lost lines or got a secret:\n%s", s)
	}
}

// An event's text is bounded.
func TestEventTextBounded(t *testing.T) {
	s := eventText(strings.Repeat("x", 100<<10) + "\n")
	if len(s) > maxEventText+10 || !strings.HasSuffix(s, "[cut]") {
		t.Fatalf("%d bytes", len(s))
	}
}

// Outside Windows there is no Event Log: asking for it is an error, not a
// silent no-op.
func TestEventLogOnlyOnWindows(t *testing.T) {
	_, err := New(Options{EventLog: "chatsafe"})
	if runtime.GOOS != "windows" && err == nil {
		t.Fatal("an Event Log outside Windows")
	}
}

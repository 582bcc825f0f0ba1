package daemon

import (
	"errors"
	"testing"
	"time"
)

// A successful cycle arms the file cache's write once; a failed one, or
// more cycles before it fires, do not move it; once fired, the next
// successful cycle arms it again. (The written flag set: the first write
// of a run is at once, TestCacheSaveFirstAtOnce.)
func TestCacheSaveTimer(t *testing.T) {
	s := &cacheSave{every: time.Hour, written: true}
	defer s.stop()
	if s.C() != nil {
		t.Fatal("armed before any cycle")
	}
	s.after(errors.New("cycle failed"), false)
	if s.C() != nil {
		t.Fatal("a failed cycle armed the write")
	}
	s.after(nil, false)
	c := s.C()
	if c == nil {
		t.Fatal("a successful cycle did not arm the write")
	}
	s.after(nil, false)
	if s.C() != c {
		t.Fatal("a second cycle moved the write it should wait for")
	}
	s.fired()
	if s.C() != nil {
		t.Fatal("still armed after it fired")
	}
	s.after(nil, false)
	if s.C() == nil {
		t.Fatal("a cycle after the write did not arm the next")
	}
}

// The first successful cycle of a run has the cache written at once (it
// fires without waiting for every), the next ones after every.
func TestCacheSaveFirstAtOnce(t *testing.T) {
	s := &cacheSave{every: time.Hour}
	defer s.stop()
	s.after(errors.New("cycle failed"), false)
	if s.C() != nil {
		t.Fatal("a failed cycle armed the write")
	}
	s.after(nil, false)
	select {
	case <-s.C():
	case <-time.After(time.Minute):
		t.Fatal("the first write of the run waited")
	}
	s.fired()
	s.after(nil, false)
	select {
	case <-s.C():
		t.Fatal("the second write came at once")
	default:
	}
}

// A cycle that found nothing changed arms no write once the run's first
// is done: an idle daemon's hourly full scan does not rewrite the cache
// (2.5 MB, 4–9 ms of CPU on the bench's --full corpus) five minutes later.
func TestCacheSaveNotForUnchanged(t *testing.T) {
	s := &cacheSave{every: time.Hour, written: true}
	defer s.stop()
	s.after(nil, true)
	if s.C() != nil {
		t.Fatal("a cycle that changed nothing armed the write")
	}
	first := &cacheSave{every: time.Hour}
	defer first.stop()
	first.after(nil, true)
	if first.C() == nil {
		t.Fatal("the run's first cycle, unchanged, did not arm the run's first write")
	}
}

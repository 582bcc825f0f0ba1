package peercred

import (
	"strings"
	"testing"
)

// The decision is the same on every OS; only where the identities come
// from differs. Windows identities are tested here, on Linux, too.
func TestAllowed(t *testing.T) {
	unixMe := Cred{UID: 1000}
	winMe := Cred{SID: "S-1-5-21-1-2-3-1001"}
	for _, c := range []struct {
		name     string
		peer, me Cred
		want     bool
	}{
		{"unix same uid", Cred{UID: 1000}, unixMe, true},
		{"unix root", Cred{UID: 0, Admin: true}, unixMe, true},
		{"unix other uid", Cred{UID: 1001}, unixMe, false},
		{"unix uid 0 without the admin flag", Cred{UID: 0}, unixMe, false},
		{"windows same account", Cred{SID: winMe.SID}, winMe, true},
		{"windows administrator", Cred{SID: "S-1-5-21-1-2-3-500", Admin: true}, winMe, true},
		{"windows SYSTEM", Cred{SID: "S-1-5-18", Admin: true}, winMe, true},
		{"windows other account", Cred{SID: "S-1-5-21-1-2-3-1002"}, winMe, false},
		{"windows peer without an account", Cred{}, winMe, false},
		{"windows, own account unreadable", Cred{SID: "S-1-5-21-1-2-3-1002"}, Cred{}, false},
		{"unix peer, uid 0 of a windows daemon", Cred{UID: 0}, winMe, false},
	} {
		if got := allowed(c.peer, c.me); got != c.want {
			t.Errorf("%s: allowed(%+v, %+v) = %v, want %v", c.name, c.peer, c.me, got, c.want)
		}
	}
}

func TestRefusalSaysWhatToDo(t *testing.T) {
	if m := refusal(Cred{UID: 65534}, Cred{UID: 0}); !strings.Contains(m, "uid 65534") || !strings.Contains(m, "run chatsafe as uid 0 or root") {
		t.Errorf("unix refusal: %q", m)
	}
	m := refusal(Cred{SID: "S-1-5-21-9"}, Cred{SID: "S-1-5-21-1"})
	if !strings.Contains(m, "account S-1-5-21-9") || !strings.Contains(m, "Administrator") {
		t.Errorf("windows refusal: %q", m)
	}
}

func TestPipeName(t *testing.T) {
	a := PipeName(`C:\Users\alice\AppData\Local\chatsafe\chatsafe.sock`)
	if !strings.HasPrefix(a, `\\.\pipe\chatsafe-`) || len(a) != len(`\\.\pipe\chatsafe-`)+16 {
		t.Errorf("derived pipe name %q", a)
	}
	if b := PipeName(`C:\Users\ALICE\AppData\Local\chatsafe\chatsafe.sock`); b != a {
		t.Errorf("case changes the pipe: %q vs %q", a, b)
	}
	if b := PipeName(`C:\Users\bob\AppData\Local\chatsafe\chatsafe.sock`); b == a {
		t.Errorf("two installations share the pipe %q", a)
	}
	if p := PipeName(`\\.\pipe\my-chatsafe`); p != `\\.\pipe\my-chatsafe` {
		t.Errorf("an explicit pipe name was changed to %q", p)
	}
}

func TestPipeSDDL(t *testing.T) {
	got := pipeSDDL("S-1-5-21-1-2-3-1001")
	// Protected (no inherited entries), and exactly three grants.
	want := "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;S-1-5-21-1-2-3-1001)"
	if got != want {
		t.Errorf("pipeSDDL = %s, want %s", got, want)
	}
}

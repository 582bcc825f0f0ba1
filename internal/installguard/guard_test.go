package installguard

import (
	"strings"
	"testing"
)

func TestCompareNamesWhatIsNew(t *testing.T) {
	before := View{exists: map[string]bool{"/var/lib/chatsafe": true}, sockets: []string{"/run/chatsafe/chatsafe-aa.sock"}}
	if msg := Compare(before, before); msg != "" {
		t.Fatalf("nothing new, yet: %s", msg)
	}
	after := View{exists: map[string]bool{"/var/lib/chatsafe": true, "/run/chatsafe": true},
		sockets: []string{"/run/chatsafe/chatsafe-aa.sock", "/run/chatsafe/chatsafe-bb.sock"}}
	msg := Compare(before, after)
	for _, want := range []string{"/run/chatsafe was made", "chatsafe-bb.sock was left"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "chatsafe-aa") || strings.Contains(msg, "/var/lib") {
		t.Errorf("%q names what was there before", msg)
	}
}

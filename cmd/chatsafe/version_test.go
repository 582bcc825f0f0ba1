package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatsafe/chatsafe/internal/buildinfo"
	"github.com/chatsafe/chatsafe/statusapi"
)

// TestOneVersionEverywhere: one binary names one version. Built from a
// checkout with no -X main.version (as `go build` and `go install` do),
// it knows its module's version from the build information; `chatsafe
// version` shows that, and so must the daemon's status (what `status`, the
// status page and the daemon's start-up log show), not "dev".
func TestOneVersionEverywhere(t *testing.T) {
	out, err := exec.Command(chatsafeBinary(t), "version", "--json").Output()
	if err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	var in buildinfo.Info
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	if in.Version == "dev" {
		t.Skip("the test binary was built without VCS information (not a git checkout): it says dev however it is asked")
	}
	s := newSetup(t)
	sock := filepath.Join(s.home, "run", "s.sock")
	setSocket(t, s.cfg, sock)
	startDaemonBinary(t, s.home, s.cfg, sock)
	r := run(t, s.home, "status", "--json", "--config", s.cfg)
	r.want(t, 0, "")
	var st statusapi.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	if st.Version != in.Version {
		t.Errorf("the daemon's status says version %q, `chatsafe version` %q", st.Version, in.Version)
	}
	r = run(t, s.home, "status", "--config", s.cfg)
	if !strings.HasPrefix(r.stdout, "chatsafe "+in.Version+": ") {
		t.Errorf("status does not name version %s:\n%s", in.Version, r.stdout)
	}
}

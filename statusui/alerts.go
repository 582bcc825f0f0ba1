package statusui

import (
	"fmt"
	"strings"

	"github.com/chatsafe/chatsafe/internal/cmdline"
	"github.com/chatsafe/chatsafe/statusapi"
)

// Alert is one thing the page shows in its alert box: what `chatsafe
// status` tells the user to act on, in the same words and order, each
// with the command to run where there is one. The page shows the text as
// text, never as markup: it carries hostnames, paths and errors.
type Alert struct {
	// Severity is "bad" (nothing is backed up, or the key is at risk)
	// or "warn" (backups go on); the page's style for it.
	Severity string `json:"severity"`
	// Label is status's line label: "taken over", "forked", "damaged",
	// "error", "vault", "warning", "remote NAME" or "unread".
	Label string   `json:"label"`
	Text  string   `json:"text"`
	Items []string `json:"items,omitempty"` // the objects or branches it names
}

// Alert severities.
const (
	SeverityBad  = "bad"
	SeverityWarn = "warn"
)

// alerts derives the alert box from st: first the states that stop every
// backup until the user acts (the message `chatsafe status` exits with),
// then status's error, vault and warning lines, each remote's error, and
// the unread paths.
func alerts(st statusapi.Status) []Alert {
	out := []Alert{}
	// The daemon's own installation, its commands as its user runs them.
	in := cmdline.For(st.Config)
	if st.TakenOver != nil || st.State == statusapi.StateTakenOver {
		out = append(out, Alert{Severity: SeverityBad, Label: "taken over", Text: statusapi.TakenOverText(st.TakenOver, in)})
	}
	if f := st.Fork; f != nil || st.State == statusapi.StateForked {
		a := Alert{Severity: SeverityBad, Label: "forked",
			Text: "the repository history is forked (two devices wrote at once); this device backs up nothing until " + in.Cmd("fork resolve")}
		if f != nil {
			a.Text = fmt.Sprintf("the repository history is forked from sequence %d (two devices wrote at once); this device backs up nothing until %s", f.Seq, in.Cmd("fork resolve"))
			for _, b := range f.Branches {
				a.Items = append(a.Items, fmt.Sprintf("branch %s: sequence %d by %s, %s since the fork",
					b.Delta, b.Seq, statusapi.DeviceLabel(b.Hostname, b.Device), plural(len(b.Snapshots), "snapshot")))
			}
		}
		out = append(out, a)
	}
	if len(st.Damage) > 0 || st.State == statusapi.StateDamaged {
		out = append(out, Alert{Severity: SeverityBad, Label: "damaged",
			Text:  "the repository is damaged; this device backs up nothing until " + in.Cmd("repair") + " (stop the daemon to run it)",
			Items: st.Damage})
	}
	// Taken over, the last error is the take-over, said above with what
	// to run (status prints it once too).
	if st.LastError != "" && !(len(out) > 0 && out[0].Label == "taken over" && strings.HasPrefix(st.LastError, "taken over")) {
		out = append(out, Alert{Severity: SeverityBad, Label: "error", Text: st.LastError})
	}
	if v := st.Vault; v != nil && v.Warning != "" {
		sev := SeverityWarn
		if v.Erased {
			sev = SeverityBad
		}
		out = append(out, Alert{Severity: sev, Label: "vault", Text: v.Warning})
	}
	for _, w := range st.Warnings {
		out = append(out, Alert{Severity: SeverityWarn, Label: "warning", Text: w})
	}
	// A remote's own error is on its row alone in status; in state
	// degraded (the cycles commit, a remote falls behind) nothing else
	// would say it.
	for _, r := range st.Remotes {
		if r.LastError == "" {
			continue
		}
		text := r.LastError
		if r.Queued > 0 {
			text += fmt.Sprintf("; %s waiting for it (retried by itself)", plural(r.Queued, "delta"))
		}
		out = append(out, Alert{Severity: SeverityWarn, Label: "remote " + r.Name, Text: text})
	}
	if s := st.LastSnapshot; s != nil {
		for _, o := range s.Incomplete {
			out = append(out, Alert{Severity: SeverityWarn, Label: "unread", Text: o.Path + ": " + o.Reason})
		}
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

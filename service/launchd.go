package service

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
)

// launchdPlist keeps the daemon alive only after a failure (KeepAlive with
// SuccessfulExit=false is launchd's Restart=on-failure), throttles restarts
// to one per 30 s, and gives it 15 s to stop, as the systemd unit does.
// launchd has no key for "do not restart on these exit codes" (KeepAlive
// knows SuccessfulExit, Crashed, PathState, NetworkState, OtherJobEnabled),
// so the plist tells the daemon which codes are final (NoRestartEnv) and
// the daemon exits 0 on them (Run), which SuccessfulExit=false leaves be.
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{.Label}}</string>
	<key>ProgramArguments</key>
	<array>
{{- range .Args}}
		<string>{{.}}</string>
{{- end}}
	</array>
{{- if .NoRestart}}
	<key>EnvironmentVariables</key>
	<dict>
		<key>{{.NoRestartEnv}}</key>
		<string>{{.NoRestart}}</string>
	</dict>
{{- end}}
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>30</integer>
	<key>ExitTimeOut</key>
	<integer>15</integer>
	<key>ProcessType</key>
	<string>Background</string>
	<key>Umask</key>
	<integer>63</integer>
	<key>StandardOutPath</key>
	<string>{{.Log}}</string>
	<key>StandardErrorPath</key>
	<string>{{.Log}}</string>
</dict>
</plist>
`

var launchdTemplate = template.Must(template.New("launchd").Parse(launchdPlist))

// RenderLaunchd returns the launchd property list for u: a LaunchDaemon in
// /Library/LaunchDaemons, or with u.User a LaunchAgent in
// ~/Library/LaunchAgents. Output goes to u.LogDir/chatsafe.log (the
// default is /Library/Logs for a daemon; an agent needs u.LogDir).
func RenderLaunchd(u Unit) (string, error) {
	if err := u.check(); err != nil {
		return "", err
	}
	logDir := u.LogDir
	if logDir == "" {
		if u.User {
			return "", fmt.Errorf("service: a launchd agent needs a log directory (~/Library/Logs)")
		}
		logDir = "/Library/Logs"
	}
	data := struct {
		Label        string
		Args         []string
		Log          string
		NoRestartEnv string
		NoRestart    string
	}{Label: xmlText(Name), Log: xmlText(filepath.Join(logDir, Name+".log")),
		NoRestartEnv: NoRestartEnv, NoRestart: u.noRestart()}
	for _, a := range append([]string{u.Executable}, u.args()...) {
		data.Args = append(data.Args, xmlText(a))
	}
	var b strings.Builder
	if err := launchdTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("rendering the launchd plist: %w", err)
	}
	return b.String(), nil
}

// xmlText escapes s as XML character data.
func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writes to memory: cannot fail
	return b.String()
}

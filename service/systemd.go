package service

import (
	"fmt"
	"strings"
	"text/template"
)

// systemdUnit is the unit for both managers. The system unit is hardened:
// the daemon only reads the chat directory (which may live in /home) and
// writes its state and runtime directories, so everything else is
// read-only. The user unit gets only what works without root: the
// namespace options need unprivileged user namespaces, and ProtectHome
// would hide the user's own state in ~/.local/state.
const systemdUnit = `# Installed by ` + "`chatsafe service install{{if .User}} --user{{end}}`" + `; remove with ` + "`chatsafe service uninstall{{if .User}} --user{{end}}`" + `.
[Unit]
Description=chatsafe: end-to-end encrypted backups of chat history
Documentation=https://github.com/chatsafe/chatsafe/blob/main/docs/service.md
ConditionFileIsExecutable={{.Exe}}
{{- if not .User}}
Wants=network-online.target
After=network-online.target
{{- end}}

[Service]
Type=exec
ExecStart={{.ExecStart}}
Restart=on-failure
RestartSec=30s
{{- if .NoRestart}}
# Restarting cannot fix a bad config, a wrong key or password, or an erased
# key, and retrying a wrong password would spend the vault's attempts.
RestartPreventExitStatus={{.NoRestart}}
{{- end}}
# The daemon exits 0 on SIGTERM; a SIGTERM that lands before its handler is
# installed is a clean stop too.
SuccessExitStatus=0 SIGTERM
KillSignal=SIGTERM
TimeoutStopSec=15s
UMask=0077
StateDirectory=chatsafe
StateDirectoryMode=0700
RuntimeDirectory=chatsafe
RuntimeDirectoryMode=0700
{{- if .Credential}}
LoadCredential={{.Credential}}
{{- end}}
NoNewPrivileges=yes
{{- if not .User}}
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
{{- range .Writable}}
ReadWritePaths={{.}}
{{- end}}
{{- end}}

[Install]
WantedBy={{if .User}}default.target{{else}}multi-user.target{{end}}
`

var systemdTemplate = template.Must(template.New("systemd").Parse(systemdUnit))

// RenderSystemd returns the systemd unit for u: a system unit for
// /etc/systemd/system, or with u.User a user unit for
// ~/.config/systemd/user, wanted by default.target.
func RenderSystemd(u Unit) (string, error) {
	if err := u.check(); err != nil {
		return "", err
	}
	words := []string{systemdQuote(u.Executable)}
	for _, a := range u.args() {
		words = append(words, systemdQuote(a))
	}
	data := struct {
		User       bool
		Exe        string
		ExecStart  string
		NoRestart  string
		Credential string
		Writable   []string
	}{
		User:      u.User,
		Exe:       systemdSpecifiers(u.Executable),
		ExecStart: strings.Join(words, " "),
		NoRestart: u.noRestart(),
	}
	if u.PasswordFile != "" {
		data.Credential = CredentialName + ":" + systemdSpecifiers(u.PasswordFile)
	}
	for _, p := range u.WritablePaths {
		// "-": a directory that does not exist yet must not stop the
		// service from starting; the daemon then reports the write error.
		data.Writable = append(data.Writable, systemdQuote("-"+p))
	}
	var b strings.Builder
	if err := systemdTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("rendering the systemd unit: %w", err)
	}
	return b.String(), nil
}

// systemdSpecifiers escapes '%', which systemd expands as a specifier in
// paths and command lines alike.
func systemdSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// systemdQuote makes s one word of a systemd command line or path list:
// specifiers and $VARIABLES are escaped, and a word with blanks, quotes or
// backslashes is double-quoted with C escapes (systemd.syntax(7)).
func systemdQuote(s string) string {
	s = systemdSpecifiers(strings.ReplaceAll(s, "$", "$$"))
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

package service

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Render returns what Install would write on goos ("" = this system),
// without a service manager: the systemd unit on Linux, the launchd plist
// on macOS, and on Windows the service's settings as an sc.exe command
// (Windows keeps them in the registry, not in a file). Where it goes
// (Manager.Path) is in the first comment line.
func Render(goos string, u Unit) (string, error) {
	if goos == "" {
		goos = runtime.GOOS
	}
	home, _ := os.UserHomeDir()
	return render(goos, home, u)
}

func render(goos, home string, u Unit) (string, error) {
	where := unitPath(goos, u.User, home)
	switch goos {
	case "darwin":
		u.LogDir = launchdLogDir(u, home)
		s, err := RenderLaunchd(u)
		if err != nil {
			return "", err
		}
		// A plist's first line must be the XML declaration: the path goes
		// in a comment after it.
		first, rest, _ := strings.Cut(s, "\n")
		return first + "\n<!-- " + where + " -->\n" + rest, nil
	case "windows":
		if err := u.check(); err != nil {
			return "", err
		}
		args := append([]string{u.Executable}, u.args()...)
		for i, a := range args {
			args[i] = `\"` + a + `\"`
		}
		return fmt.Sprintf("REM the Windows service (settings in the registry); from an Administrator prompt:\n"+
			"sc.exe create %s binPath= \"%s\" start= delayed-auto DisplayName= \"chatsafe\"\n"+
			"sc.exe failure %s reset= 86400 actions= restart/30000\n"+
			"REM and the environment variable %s=%s in HKLM\\SYSTEM\\CurrentControlSet\\Services\\%s\\Environment\n",
			Name, strings.Join(args, " "), Name, NoRestartEnv, u.noRestart(), Name), nil
	default:
		s, err := RenderSystemd(u)
		if err != nil {
			return "", err
		}
		return "# " + where + "\n" + s, nil
	}
}

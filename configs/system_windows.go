package configs

import "golang.org/x/sys/windows"

// isSystem: an elevated administrator (or LocalSystem, which runs the
// service) works on the system's installation, under %ProgramData%.
func isSystem() bool { return windows.GetCurrentProcessToken().IsElevated() }

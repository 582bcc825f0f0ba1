//go:build !windows

package configs

// isSystem: root's installation is the system's.
func isSystem() bool { return geteuid() == 0 }

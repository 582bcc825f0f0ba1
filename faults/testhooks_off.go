//go:build !chatsafe_testhooks

package faults

// TestHooks reports whether this build honours EnvVar.
const TestHooks = false

// armed ignores EnvVar: only test builds crash on request.
func armed() map[string]bool { return nil }

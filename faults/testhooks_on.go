//go:build chatsafe_testhooks

package faults

import "os"

// TestHooks reports whether this build honours EnvVar.
const TestHooks = true

func armed() map[string]bool { return parse(os.Getenv(EnvVar)) }

//go:build !linux

package crypt

import "time"

// unlockKeyring is a no-op outside Linux: Keychain and Credential Manager
// are unlocked with the user's session. (On the BSDs go-keyring still
// prompts through the Secret Service without a bound.)
func unlockKeyring(time.Duration) error { return nil }

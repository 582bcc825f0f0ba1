//go:build !chatsafe_testhooks

package client

// testHooksBuild: the shipping binary, which ignores TestKSFEnv.
const testHooksBuild = false

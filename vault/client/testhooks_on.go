//go:build chatsafe_testhooks

package client

// testHooksBuild: this binary is the test suites' (-tags
// chatsafe_testhooks), which honours TestKSFEnv.
const testHooksBuild = true

//go:build purego || !(amd64 || arm64 || s390x)

package crypt

// aesGCMHardware: a purego build's AES is software on every CPU, and so is
// Go's on 386 (whose CPU reports AES-NI all the same). chatsafe picks
// XAES-256-GCM on amd64, arm64 and s390x only: Go has AES-GCM assembly
// for ppc64 too, but chatsafe has never been measured there.
func aesGCMHardware() bool { return false }

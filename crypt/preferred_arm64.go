//go:build !purego

package crypt

import "golang.org/x/sys/cpu"

// aesGCMHardware: Go's AES-GCM assembly for arm64 runs with the AES and
// PMULL instructions (crypto/tls's hasGCMAsmARM64).
func aesGCMHardware() bool {
	return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
}

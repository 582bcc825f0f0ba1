//go:build !purego

package crypt

import "golang.org/x/sys/cpu"

// aesGCMHardware: Go's AES-GCM assembly for amd64 runs only with AES-NI,
// PCLMULQDQ, SSE4.1 and SSSE3 (crypto/tls's hasGCMAsmAMD64).
func aesGCMHardware() bool {
	return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3
}

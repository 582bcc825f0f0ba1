//go:build !purego

package crypt

import "golang.org/x/sys/cpu"

// aesGCMHardware: Go's AES-GCM for s390x runs on CPACF with AES, AES-CTR
// and GHASH (crypto/tls's hasGCMAsmS390X).
func aesGCMHardware() bool {
	return cpu.S390X.HasAES && cpu.S390X.HasAESCTR && cpu.S390X.HasGHASH
}

package client

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestKSFEnv names cheaper Argon2id parameters ("time,KiB,threads") for
// test runs: a test binary, or a binary built with -tags
// chatsafe_testhooks (the one the CLI's tests run as a child), uses them
// in place of the production ones when it is set and Options.KSFParameters
// is not. Under the race detector the production parameters cost seconds
// a password, most of the CLI's and instance's test time. The shipping
// binary never reads it: a user's derivation cannot be weakened from the
// environment.
const TestKSFEnv = "CHATSAFE_TEST_VAULT_KSF"

// testKSF is what TestKSFEnv asks for, nil when it is unset or not
// honoured by this binary.
func testKSF() ([]uint64, error) {
	if !testing.Testing() && !testHooksBuild {
		return nil, nil
	}
	s := os.Getenv(TestKSFEnv)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%s=%q: want time,KiB,threads", TestKSFEnv, s)
	}
	p := make([]uint64, len(parts))
	for i, part := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(part), 10, 32)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%s=%q: want three positive numbers, time,KiB,threads", TestKSFEnv, s)
		}
		p[i] = v
	}
	return p, nil
}

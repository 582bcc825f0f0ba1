package client

import (
	"slices"
	"testing"
)

// TestTestKSFEnv: a test binary takes TestKSFEnv's parameters, refuses a
// malformed value rather than falling back, and keeps the production ones
// (nil) when it is unset or parameters are given in Options.
func TestTestKSFEnv(t *testing.T) {
	t.Setenv(TestKSFEnv, "2, 2048,1")
	c, err := New(Options{URLs: []string{"https://127.0.0.1:1"}})
	if err != nil || !slices.Equal(c.ksfParams, []uint64{2, 2048, 1}) {
		t.Fatalf("with %s set: %v, parameters %v", TestKSFEnv, err, c.ksfParams)
	}
	if c, err = New(Options{URLs: []string{"https://127.0.0.1:1"}, KSFParameters: []uint64{1, 8, 1}}); err != nil || !slices.Equal(c.ksfParams, []uint64{1, 8, 1}) {
		t.Fatalf("Options.KSFParameters beside %s: %v, parameters %v", TestKSFEnv, err, c.ksfParams)
	}
	for _, bad := range []string{"1,2", "1,0,1", "a,b,c", "1,2,3,4"} {
		t.Setenv(TestKSFEnv, bad)
		if _, err := New(Options{URLs: []string{"https://127.0.0.1:1"}}); err == nil {
			t.Errorf("%s=%q accepted", TestKSFEnv, bad)
		}
	}
	t.Setenv(TestKSFEnv, "")
	if c, err = New(Options{URLs: []string{"https://127.0.0.1:1"}}); err != nil || c.ksfParams != nil {
		t.Fatalf("with %s unset: %v, parameters %v, want the production ones (nil)", TestKSFEnv, err, c.ksfParams)
	}
}

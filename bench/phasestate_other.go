//go:build !linux

package main

// machineState is Linux's /proc and cachestat(2); elsewhere phases are
// logged without it.
type machineState struct{}

func readMachineState(string, func(string) bool) machineState { return machineState{} }
func (machineState) String() string                           { return "machine state not read on this system" }
func (machineState) deltas(after machineState) string         { return "" }

func (machineState) reported() int64 { return 0 }

func reportedBytes() (int64, bool) { return 0, false }

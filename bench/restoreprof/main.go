//go:build unix

// Command restoreprof restores a kept chatsafe repository in this process,
// as `chatsafe restore --config` does (instance.Open read-only,
// restore.Run), with the CPU profiler on, and prints where the time went:
// wall, the process's user and system time, and the Go processors' idle
// time (runtime/metrics), which says whether both cores had work.
//
//	go run ./bench/restoreprof --config W/chatsafe-rN/config.yaml --to DIR [--cpuprofile F] [--trace F] [--memprofile F]
//
// (W/chatsafe/ after a run of one round: the bench keeps the last round's
// repository.)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/chatsafe/chatsafe/configs"
	"github.com/chatsafe/chatsafe/instance"
	"github.com/chatsafe/chatsafe/restore"
)

func main() {
	cfgPath := flag.String("config", "", "the kept repository's config.yaml")
	to := flag.String("to", "", "a new directory to restore into")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the restore here")
	traceOut := flag.String("trace", "", "write a runtime trace of the restore here")
	memProfile := flag.String("memprofile", "", "write a profile of what the restore allocated here (alloc_space)")
	flag.Parse()
	if err := run(*cfgPath, *to, *cpuProfile, *traceOut, *memProfile); err != nil {
		fmt.Fprintln(os.Stderr, "restoreprof:", err)
		os.Exit(1)
	}
}

func run(cfgPath, to, cpuProfile, traceOut, memProfile string) error {
	if cfgPath == "" || to == "" {
		return fmt.Errorf("--config and --to are required")
	}
	ctx := context.Background()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		return err
	}
	inst, err := instance.Open(ctx, cfg, instance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer inst.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if traceOut != "" {
		f, err := os.Create(traceOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	idle := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(idle)
	idle0, total0, gc0 := idle[0].Value.Float64(), idle[1].Value.Float64(), idle[2].Value.Float64()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	res, err := restore.Run(ctx, inst.Store, restore.Options{Target: to})
	wall := time.Since(start)
	if err != nil {
		return err
	}
	if memProfile != "" {
		if err := writeHeapProfile(memProfile); err != nil {
			return err
		}
	}
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	metrics.Read(idle)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	fmt.Printf("restored %d files, %d bytes: wall %.3fs, user %.3fs, sys %.3fs; Go processors idle %.3f of %.3f P-s, GC %.3f s\n",
		res.Files, res.Bytes, wall.Seconds(), tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime),
		idle[0].Value.Float64()-idle0, idle[1].Value.Float64()-total0, idle[2].Value.Float64()-gc0)
	return nil
}

// writeHeapProfile writes the heap profile; its alloc_space sample is
// everything allocated since the process started (the store's opening
// included).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A Go executable without a symbol table (go run's and go test's are
// linked with -s) keeps its function table, .gopclntab, which perf does
// not read: perf shows its samples as file offsets, one row per
// instruction, unless a .dynsym names them (Debian's rclone has one). The
// go tool reads that table (go tool addr2line).

// strippedGo reports whether exe is a Go ELF executable without .symtab.
func strippedGo(exe string) bool {
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".symtab") == nil && f.Section(".gopclntab") != nil
}

// goShares is the profile by symbol, exe's offsets named by their Go
// function: every row of `perf report --sort dso,sym`, without a lower
// limit, since one function's instructions may each hold less than 1%;
// nil when perf left no offset of exe unnamed.
func goShares(ctx context.Context, data, exe string) ([]perfShare, error) {
	// perf names the file mapped, a symlink's target (a tool on PATH).
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	cmd := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym", "-g", "none")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report -i %s --sort dso,sym: %w\n%s", data, err, tail(stderr.String(), 2000))
	}
	// Every row: the share, the dso and the symbol (after [.] or [k]).
	type row struct {
		pct      float64
		dso, sym string
	}
	var rows []row
	var offs []uint64
	var at []int // offs[k] is rows[at[k]]'s
	for line := range strings.Lines(string(out)) {
		pct, cols, ok := perfRow(line)
		if !ok || len(cols) < 3 {
			continue
		}
		r := row{pct, cols[0], strings.Join(cols[2:], " ")}
		if off, err := strconv.ParseUint(strings.TrimPrefix(r.sym, "0x"), 16, 64); err == nil && strings.HasPrefix(r.sym, "0x") {
			if r.dso == filepath.Base(exe) {
				offs, at = append(offs, off), append(at, len(rows))
			} else {
				r.sym += " in " + r.dso // another object's: left as perf gave it
			}
		}
		rows = append(rows, r)
	}
	if len(offs) == 0 {
		return nil, nil // perf named them (Debian's rclone keeps a .dynsym)
	}
	names, err := goFuncs(ctx, exe, offs)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		if names[k] != "?" {
			rows[i].sym = names[k]
		}
	}
	sum := map[string]float64{}
	for _, r := range rows {
		sum[r.sym] += r.pct
	}
	shares := make([]perfShare, 0, len(sum))
	for s, p := range sum {
		if p > 0 {
			shares = append(shares, perfShare{Percent: p, Symbol: s})
		}
	}
	slices.SortFunc(shares, func(a, b perfShare) int {
		return cmp.Or(cmp.Compare(b.Percent, a.Percent), strings.Compare(a.Symbol, b.Symbol))
	})
	return shares, nil
}

// goFuncs names the Go function at each file offset of exe.
func goFuncs(ctx context.Context, exe string, offs []uint64) ([]string, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in strings.Builder
	for _, off := range offs {
		addr := off // left as is when no segment maps it
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && off >= p.Off && off < p.Off+p.Filesz {
				addr = off - p.Off + p.Vaddr
				break
			}
		}
		fmt.Fprintf(&in, "%#x\n", addr)
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "addr2line", exe)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool addr2line %s: %w\n%s", exe, err, tail(stderr.String(), 2000))
	}
	// Two lines an address: the function, then file:line.
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for k := 0; sc.Scan(); k++ {
		if k%2 == 0 {
			names = append(names, sc.Text())
		}
	}
	if len(names) != len(offs) {
		return nil, fmt.Errorf("go tool addr2line %s: %d names for %d addresses", exe, len(names), len(offs))
	}
	return names, nil
}

// goSharesText is goShares' rows of 1% or more, for the report's text.
func goSharesText(exe string, shares []perfShare) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n# %s has no .symtab: perf gave some of its samples as file offsets.\n# By Go function (its .gopclntab, through go tool addr2line), the rows of 1%% or more:\n#\n", exe)
	for _, s := range shares {
		if s.Percent >= 1 {
			fmt.Fprintf(&b, "%9.2f%%  %s\n", s.Percent, s.Symbol)
		}
	}
	return b.String()
}

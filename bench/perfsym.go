package main

import (
	"bufio"
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
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
// nil when perf left no offset of exe unnamed. perf's rows (one an
// instruction) are read as they come, not held.
func goShares(ctx context.Context, data, exe string) ([]perfShare, error) {
	// perf names the file mapped, a symlink's target (a tool on PATH).
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	cmd := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym", "-g", "none")
	var rows perfRows
	err := readStreaming(cmd, "perf report -i "+data+" --sort dso,sym", func(r io.Reader) (err error) {
		rows, err = parseDsoSym(r, filepath.Base(exe))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(rows.offs) == 0 {
		return nil, nil // perf named them (Debian's rclone keeps a .dynsym)
	}
	if err := goFuncs(ctx, exe, &rows); err != nil {
		return nil, err
	}
	return rows.shares(), nil
}

// perfRows is a profile by symbol, as read so far: the named rows'
// shares, and the offsets of the executable still to be named.
type perfRows struct {
	sum  map[string]float64
	offs []uint64  // file offsets in the executable, perf left unnamed
	pcts []float64 // offs[k]'s share
}

// parseDsoSym reads `perf report --stdio --sort dso,sym` rows (the share,
// the dso, [.] or [k], the symbol); offsets in exe (its file's base name)
// are kept to be named, another object's stay, marked with the object.
func parseDsoSym(r io.Reader, exe string) (perfRows, error) {
	rows := perfRows{sum: map[string]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pct, cols, ok := perfRow(sc.Text())
		if !ok || len(cols) < 3 {
			continue
		}
		dso, sym := cols[0], strings.Join(cols[2:], " ")
		if hex, ok := strings.CutPrefix(sym, "0x"); ok {
			if off, err := strconv.ParseUint(hex, 16, 64); err == nil {
				if dso == exe {
					rows.offs, rows.pcts = append(rows.offs, off), append(rows.pcts, pct)
					continue
				}
				sym += " in " + dso // another object's: left as perf gave it
			}
		}
		rows.sum[sym] += pct
	}
	return rows, sc.Err()
}

// addNames reads go tool addr2line's answers for rows.offs, two lines
// an address (the function, then file:line), into rows.sum; an offset
// it cannot name ("?") stays one.
func (rows *perfRows) addNames(r io.Reader) error {
	sc := bufio.NewScanner(r)
	k := 0
	for line := 0; sc.Scan(); line++ {
		if line%2 != 0 {
			continue
		}
		if k == len(rows.offs) {
			return fmt.Errorf("more names than the %d addresses", len(rows.offs))
		}
		name := sc.Text()
		if name == "?" {
			name = fmt.Sprintf("0x%016x", rows.offs[k])
		}
		rows.sum[name] += rows.pcts[k]
		k++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if k != len(rows.offs) {
		return fmt.Errorf("%d names for %d addresses", k, len(rows.offs))
	}
	return nil
}

// shares are rows.sum, the largest first.
func (rows *perfRows) shares() []perfShare {
	shares := make([]perfShare, 0, len(rows.sum))
	for s, p := range rows.sum {
		if p > 0 {
			shares = append(shares, perfShare{Percent: p, Symbol: s})
		}
	}
	slices.SortFunc(shares, func(a, b perfShare) int {
		return cmp.Or(cmp.Compare(b.Percent, a.Percent), strings.Compare(a.Symbol, b.Symbol))
	})
	return shares
}

// goFuncs names rows.offs, file offsets in exe, by their Go function.
func goFuncs(ctx context.Context, exe string, rows *perfRows) error {
	f, err := elf.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	in := &addrReader{offs: rows.offs, progs: f.Progs}
	cmd := exec.CommandContext(ctx, "go", "tool", "addr2line", exe)
	cmd.Stdin = in
	return readStreaming(cmd, "go tool addr2line "+exe, rows.addNames)
}

// readStreaming runs cmd with parse reading its output as it comes, so
// that nothing of it is held beyond what parse keeps; cmd's stderr keeps
// its last 4 KiB for the error, which names the command as what.
func readStreaming(cmd *exec.Cmd, what string, parse func(io.Reader) error) error {
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	perr := parse(stdout)
	if perr != nil {
		io.Copy(io.Discard, stdout) // the command exits once its output is read
	}
	if err := errors.Join(perr, cmd.Wait()); err != nil {
		return fmt.Errorf("%s: %w\n%s", what, err, tail(stderr.String(), 2000))
	}
	return nil
}

// addrReader is addr2line's input, an address a line, made as read: the
// virtual address of each file offset (left as is when no segment maps it).
type addrReader struct {
	offs  []uint64
	progs []*elf.Prog
	buf   []byte
}

func (a *addrReader) Read(p []byte) (int, error) {
	for len(a.buf) < len(p) && len(a.offs) > 0 {
		off := a.offs[0]
		a.offs = a.offs[1:]
		addr := off
		for _, pr := range a.progs {
			if pr.Type == elf.PT_LOAD && off >= pr.Off && off < pr.Off+pr.Filesz {
				addr = off - pr.Off + pr.Vaddr
				break
			}
		}
		a.buf = fmt.Appendf(a.buf, "%#x\n", addr)
	}
	if len(a.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, a.buf)
	a.buf = a.buf[:copy(a.buf, a.buf[n:])]
	return n, nil
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

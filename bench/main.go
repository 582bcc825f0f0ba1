// Command bench measures chatsafe against restic, kopia, borg and rclone (crypt
// remote, copy) on one generated chat-history corpus, on this machine, in
// one run: first backup time, bytes stored, bytes a small change writes,
// restore time, peak RSS and the daemon's commit → snapshot latency. It
// owns the corpus generator and the reports (a markdown table on stdout,
// bench/out/results.json, bench/out/chart.svg).
//
//	go run ./bench --quick            # ~20 MB database + ~30 MB media
//	go run ./bench --full             # ~280 MB database + ~1 GB media, 3 rounds
//	go run ./bench --quick --repeat 3 # first backup and restore 3 times per tool
//	go run ./bench --quick --profile  # also profile chatsafe's backup in-process
//	go run ./bench --quick --perf DIR # perf profiles of every tool's timed phases
//	go run ./bench --cycle-corpus large  # the daemon's cycle on ~1 GB + 50,000 files
//	go run ./bench --tree-corpus 10g     # first backup and restore of a ~10 GiB tree
//
// Every tool runs as a subprocess and is measured the same way: wall time
// and the child's peak RSS from its rusage. Missing tools are skipped with
// the command that installs them; the bench installs nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	spec        Spec
	out         string
	work        string
	keep        bool
	profile     bool
	tools       []string
	chatsafeBin string
	daemon      bool
	// idleCycles: measure a one-message cycle after each of these idle
	// periods (--idle-cycle; minutes each, so opt-in).
	idleCycles []time.Duration
	// cycleOnly: only chatsafe's first backup and the daemon rows.
	cycleOnly bool
	// treeSize > 0: only the first backup and the restore of a tree of
	// about that many bytes (tree.go).
	treeSize int64
	// repeat: rounds of the first backup and of the restore per tool
	// (rounds.go).
	repeat int
	// perfDir, when set, receives a perf profile of every timed phase
	// (perf.go).
	perfDir string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "quick corpus: ~20 MB database + ~30 MB media (the default)")
	full := fs.Bool("full", false, "full corpus: ~280 MB database + ~1 GB media")
	seed := fs.Uint64("seed", 1, "corpus seed (same seed, same bytes)")
	var o options
	fs.StringVar(&o.out, "out", filepath.Join("bench", "out"), "directory for results.json, chart.svg and profiles")
	fs.StringVar(&o.work, "workdir", "", "scratch directory for the corpus and repositories (default: a new temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	fs.BoolVar(&o.profile, "profile", false, "also run chatsafe's backup in-process under pprof: OUT/backup.pprof, OUT/backup-change.pprof, OUT/backup-allocs.pprof")
	toolList := fs.String("tools", "chatsafe,restic,kopia,borg,rclone", "tools to run, comma-separated")
	fs.StringVar(&o.chatsafeBin, "chatsafe", "", "a chatsafe binary to measure (default: build ./cmd/chatsafe)")
	fs.BoolVar(&o.daemon, "daemon", true, "measure the daemon's commit → snapshot latency")
	cycleCorpus := fs.String("cycle-corpus", "", `"large": only the daemon's rows (and chatsafe's first backup) on a ~1 GB database and 50,000 files in 500 directories`)
	idleCycles := fs.String("idle-cycle", "", "DURATIONS (e.g. 310s): after the daemon's rows, measure a one-message cycle after the daemon sat idle that long, each in turn (opt-in: each takes its duration)")
	fs.IntVar(&o.repeat, "repeat", 0, "N: run the first backup and the restore N times per tool, in rounds, each round starting at the next tool; the table and the targets take the median (default 3 with --full and --tree-corpus, 1 otherwise)")
	fs.StringVar(&o.perfDir, "perf", "", "DIR: profile every timed first backup and restore of every tool with perf record attached to its process (cpu-clock, 999 Hz, call graphs) into DIR/TOOL-PHASE-rROUND.data, perf report's text beside it (.txt) and its top 3 symbols on the phase's log line; perf competes with the tool for the cores, so figures measured under --perf are for diagnosis, not comparison")
	treeCorpus := fs.String("tree-corpus", "", "SIZE (e.g. 10g): only the first backup and the restore of a chat app's tree of about SIZE (a tenth of it the database, the rest media); chatsafe alone unless --tools says otherwise")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.idleCycles, err = parseIdleCycles(*idleCycles); err != nil {
		return err
	}
	toolsSet := false
	fs.Visit(func(f *flag.Flag) { toolsSet = toolsSet || f.Name == "tools" })
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	switch {
	case *quick && *full, *cycleCorpus != "" && (*quick || *full), *treeCorpus != "" && (*quick || *full || *cycleCorpus != ""):
		return errors.New("give one of --quick, --full, --cycle-corpus and --tree-corpus")
	case *treeCorpus != "":
		size, err := parseTreeSize(*treeCorpus)
		if err != nil {
			return err
		}
		o.spec, o.treeSize, o.daemon = treeSpec(strings.ToLower(*treeCorpus), size), size, false
		if !toolsSet {
			*toolList = "chatsafe"
		}
	case *cycleCorpus == "large":
		o.spec, o.cycleOnly = LargeCycleSpec, true
	case *cycleCorpus != "":
		return fmt.Errorf("unknown --cycle-corpus %q (the one there is: large)", *cycleCorpus)
	case *full:
		o.spec = FullSpec
	default:
		o.spec = QuickSpec
	}
	o.spec.Seed = *seed
	switch {
	case o.repeat < 0:
		return fmt.Errorf("--repeat %d: give a number of rounds, 1 or more", o.repeat)
	case o.repeat == 0 && (*full || o.treeSize > 0):
		o.repeat = 3
	case o.repeat == 0:
		o.repeat = 1
	}
	if o.cycleOnly {
		*toolList = "chatsafe"
	}
	for _, t := range strings.Split(*toolList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.tools = append(o.tools, t)
		}
	}
	// Last: the flags are right before --perf's DIR is made.
	if o.perfDir != "" {
		if o.perfDir, err = checkPerfDir(o.perfDir); err != nil {
			return err
		}
	}
	return runBench(ctx, o)
}

// benchUsage heads --help: what the flags do not say, how every tool's
// timed phase is prepared (settle).
const benchUsage = `Usage: go run ./bench [flags]

Before every tool's timed backup and restore, outside the timing and the
same for every tool: sync(2); the phase's input read into the page cache
and held there; a warm-up that writes and deletes a corpus' worth of
scratch data; then, before a first backup or a restore and where the
kernel reports it (/sys/module/page_reporting/parameters/reported_kib),
a wait of 2.5-10 s until the VM's free page reporting has handed what
the warm-up freed to the host, so that it does not do so in the middle
of the phase. The
memory reported during each restore is given beside the results
(docs/benchmarks.md, "Restore, eleventh session").

The first backup and the restore run --repeat N times per tool (3 with
--full and --tree-corpus, 1 otherwise), in rounds, each round starting at
the next tool; every first backup into a fresh repository (the last
round's is the one the later phases use), every restore checked. The
table and the targets take the median wall time and give the least and
the largest; results.json keeps every round.

Flags:
`

// logf reports progress on stderr; stdout carries only the table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// benchRun is one run of the bench: the corpus, the tools under test and
// what they measured so far. Each phase is a method, in the order run.
type benchRun struct {
	o        options
	work     string
	src      string
	corpus   *Corpus
	res      *Results
	tools    []tool
	runs     []*ToolResult
	listings []listing // each tool's repository after its last backup
	retired  *retirer  // what the rounds are done with, deleted at the end
}

func runBench(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("creating the output directory: %w", err)
	}
	work, err := scratchDir(o.work)
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		logf("scratch directory kept at %s", work)
	}
	if err := spreadNewDirs(work); err != nil {
		logf("%v; the rounds' repositories and restores are made beside the scratch directory", err)
	}
	if o.treeSize > 0 {
		if err := checkTreeDisk(work, o.treeSize, len(o.tools)); err != nil {
			return err
		}
	}
	b := &benchRun{o: o, work: work, retired: newRetirer(work), res: &Results{Date: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo(), Corpus: CorpusInfo{Spec: o.spec}, Repeat: o.repeat, PerfDir: o.perfDir}}
	// Before (a kept scratch directory may hold an earlier run's) and after.
	if err := b.retired.purge(); err != nil {
		return fmt.Errorf("removing what an earlier run retired: %w", err)
	}
	defer func() {
		if err := b.retired.purge(); err != nil {
			logf("removing what the rounds retired: %v", err)
		}
	}()
	bin, err := b.chatsafeBinary(ctx)
	if err != nil {
		return err
	}
	if err := b.generate(ctx); err != nil {
		return err
	}
	defer b.corpus.Writer.Close()
	b.initTools(ctx, bin)
	b.firstBackups(ctx)
	switch {
	case o.treeSize > 0:
		check, err := b.treeRestoreCheck()
		if err != nil {
			return err
		}
		if err := b.restores(ctx, check); err != nil {
			return err
		}
	case !o.cycleOnly:
		if err := b.changeBackups(ctx); err != nil {
			return err
		}
		if err := b.restores(ctx, func(root string) error { return compareTrees(b.src, root) }); err != nil {
			return err
		}
	}
	b.daemonLatency(ctx)
	for _, r := range b.runs {
		b.res.Tools = append(b.res.Tools, *r)
	}
	b.res.evaluate()
	if o.profile && slices.Contains(o.tools, "chatsafe") {
		logf("profiling chatsafe's backup in-process")
		prof, err := profileBackup(ctx, b.corpus, filepath.Join(work, "profile"), o.out)
		if err != nil {
			return fmt.Errorf("profiling: %w", err)
		}
		b.res.Profile = prof
	}
	return writeReports(b.res, o.out)
}

// scratchDir returns the absolute scratch directory: dir, or a new
// temporary one when dir is "".
func scratchDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "chatsafe-bench-")
		if err != nil {
			return "", err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Abs(dir)
}

// chatsafeBinary builds chatsafe into the scratch directory unless a
// binary was given or chatsafe is not among the tools.
func (b *benchRun) chatsafeBinary(ctx context.Context) (string, error) {
	bin := b.o.chatsafeBin
	if bin != "" || !slices.Contains(b.o.tools, "chatsafe") {
		return bin, nil
	}
	bin = filepath.Join(b.work, "bin", "chatsafe")
	logf("building chatsafe (go build -o %s ./cmd/chatsafe)", bin)
	if _, err := run(ctx, command{name: "go", args: []string{"build", "-o", bin, "./cmd/chatsafe"}}); err != nil {
		return "", fmt.Errorf("building chatsafe (run the bench from the module root, or pass --chatsafe BIN): %w", err)
	}
	return bin, nil
}

func (b *benchRun) generate(ctx context.Context) error {
	b.src = filepath.Join(b.work, "chats")
	logf("generating the %s corpus (seed %d) in %s", b.o.spec.Name, b.o.spec.Seed, b.src)
	start := time.Now()
	corpus, err := Generate(ctx, b.src, b.o.spec)
	if err != nil {
		return fmt.Errorf("generating the corpus: %w", err)
	}
	b.corpus = corpus
	c := &b.res.Corpus
	c.Files, c.Bytes = corpus.Files, corpus.Bytes
	if fi, err := os.Stat(corpus.DBPath); err == nil {
		c.DBBytes = fi.Size()
	}
	c.GenerateS = time.Since(start).Seconds()
	logf("corpus: %d files, %s (database %s) in %.1fs", corpus.Files, mb(corpus.Bytes), mb(c.DBBytes), c.GenerateS)
	return nil
}

func (b *benchRun) initTools(ctx context.Context, bin string) {
	tools, skipped := newTools(b.o.tools, b.work, b.src, bin)
	for name, why := range skipped {
		logf("skipping %s: %s", name, why)
		b.res.Skipped = append(b.res.Skipped, SkippedTool{Tool: name, Reason: why})
	}
	b.tools = tools
	b.runs = make([]*ToolResult, len(tools))
	b.listings = make([]listing, len(tools))
	for i, t := range tools {
		// Every executable is measured as read from disk, not as it was
		// left in the page cache by whoever wrote it (evict_linux.go).
		if err := evictFromPageCache(t.Bin()); err != nil {
			logf("%s: %v (its peak RSS may include pages cached when it was written)", t.Name(), err)
		}
		b.runs[i] = &ToolResult{Tool: t.Name(), Version: t.Version(ctx)}
		// A kept scratch directory may hold an earlier run's later rounds.
		for _, d := range laterRounds(b.work, t.Name()) {
			if err := os.RemoveAll(d); err != nil {
				logf("%s: removing an earlier run's %s: %v", t.Name(), d, err)
			}
		}
		if err := t.Init(ctx); err != nil {
			b.runs[i].fail("init", err)
		}
	}
}

// changeBackups: the app commits 100 new messages and edits 100 scattered
// ones (the commits sit in the -wal) and every tool backs up; then the
// app's (auto-)checkpoint moves the pages into the database file, as
// SQLite does when the -wal grows or the app idles, and every tool backs
// up again.
func (b *benchRun) changeBackups(ctx context.Context) error {
	logf("writer: 100 inserts + 100 scattered updates, one commit each")
	if _, err := b.corpus.Writer.SmallChange(ctx, 100, 100); err != nil {
		return err
	}
	if fi, err := os.Stat(b.corpus.DBPath + "-wal"); err == nil {
		b.res.Corpus.ChangeWALBytes = fi.Size()
	}
	b.changeBackup(ctx, "commits", func(r *ToolResult, w int64, p procResult) {
		r.ChangeWALBytes, r.ChangeBackupS = w, p.Wall.Seconds()
	})
	logf("writer: checkpoint (PASSIVE, as auto-checkpoint)")
	if err := b.corpus.Writer.Checkpoint(ctx); err != nil {
		return err
	}
	b.changeBackup(ctx, "checkpoint", func(r *ToolResult, w int64, p procResult) {
		r.ChangeCheckpointBytes, r.CheckpointBackupS = w, p.Wall.Seconds()
		r.SmallChangeBytes = r.ChangeWALBytes + r.ChangeCheckpointBytes
	})
	return nil
}

// changeBackup runs one more backup with every tool and passes add the
// bytes it wrote to its repository.
func (b *benchRun) changeBackup(ctx context.Context, phase string, add func(r *ToolResult, wrote int64, p procResult)) {
	each(b.tools, b.runs, func(i int, t tool, r *ToolResult) error {
		defer b.settle(t.Name(), "backup after the "+phase, false, b.src, t.StateDir())()
		p, err := t.Backup(ctx, len(r.backups)+2, "")
		if err != nil {
			return fmt.Errorf("backup after the %s: %w", phase, err)
		}
		flush, err := makeDurable(t.RepoDir())
		if err != nil {
			return fmt.Errorf("backup after the %s: %w", phase, err)
		}
		p.Wall += flush
		r.backups = append(r.backups, p)
		r.notePeak(p)
		after, err := listTree(t.RepoDir())
		if err != nil {
			return err
		}
		w := written(b.listings[i], after)
		if u, ok := t.(interface{ Uploaded() int64 }); ok {
			w = u.Uploaded() // rclone: what it transferred, not what the directory shows
		}
		b.listings[i] = after
		add(r, w, p)
		logf("%s: backup after the %s wrote %s in %.2fs", t.Name(), phase, mb(w), p.Wall.Seconds())
		return nil
	})
}

// daemonLatency: the chatsafe daemon's commit → snapshot latency.
func (b *benchRun) daemonLatency(ctx context.Context) {
	for i, t := range b.tools {
		ct, ok := t.(*chatsafeTool)
		if !ok || b.runs[i].Error != "" {
			continue
		}
		if !b.o.daemon {
			b.res.Daemon = daemonResult{Note: "not measured (--daemon=false)"}
			return
		}
		logf("chatsafe daemon: commit → snapshot, quiet period %s, 5 trials", daemonQuietPeriod)
		b.res.Daemon = measureDaemon(ctx, ct, b.corpus.Writer, 5, b.o.idleCycles)
		if b.res.Daemon.Measured {
			logf("chatsafe daemon: median %.2fs to a snapshot, %.2fs to the remote", b.res.Daemon.SnapshotMedianS, b.res.Daemon.UploadedMedianS)
		} else {
			logf("chatsafe daemon: %s", b.res.Daemon.Note)
		}
		return
	}
}

// settle runs before every tool's timed backup and restore, outside the
// timing, for every tool alike: it writes back what the previous phases
// left dirty (the corpus, the other tools' repositories, the restore the
// previous tool made and the bench deleted), so that no tool's phase
// pays for another's writes (docs/benchmarks.md, "What is measured");
// then it reads the phase's inputs (the corpus or the tool's repository,
// and the tool's local state) into the page cache and holds them there
// until the caller calls release, after the phase (hold_linux.go), so
// that every tool reads them from memory, as the first in line does; then
// it warms as much memory as the phase will fill (warm.go), so that
// no tool meets memory the VM's host took back because of its place in
// the order; and before a phase that fills as much memory (fills: a
// first backup, a restore) it waits until the VM's free page reporting
// has been through what the warm-up freed (reporting.go), so that it
// does not hand it to the host in the middle of the phase.
func (b *benchRun) settle(tool, phase string, fills bool, inputs ...string) (release func()) {
	start := time.Now()
	settleDisk()
	if d := time.Since(start); d > 100*time.Millisecond {
		logf("%s: %s: writing back the previous phases took %.2fs (not timed)", tool, phase, d.Seconds())
	}
	// Before the warm-up: reading what was evicted takes pages, and the
	// warm-up's are for what the phase writes.
	start = time.Now()
	release, err := holdInCache(b.appFiles(), inputs...)
	if err != nil {
		logf("%s: %s: %v (the phase starts without it)", tool, phase, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		logf("%s: %s: reading the input into the page cache took %.2fs (not timed)", tool, phase, d.Seconds())
	}
	if b.corpus == nil {
		return release
	}
	// About what the phase will put in the page cache: the corpus's size.
	before, _ := reportedBytes()
	if err := warmMemory(b.work, b.corpus.Bytes+b.corpus.Bytes/8); err != nil {
		logf("%s: %s: %v (the phase starts without it)", tool, phase, err)
	}
	if after, _ := reportedBytes(); after > before {
		logf("%s: %s: %s reported to the host during the warm-up", tool, phase, mb(after-before))
	}
	// Then the reporter goes through what the warm-up freed before the
	// phase, not during it (reporting.go). A backup of a small change
	// takes little memory: the wait would only lengthen the run.
	if !fills {
		return release
	}
	if waited, moved, quiet, ok := waitForReporting(); ok {
		still := ""
		if !quiet {
			still = ", still moving at the bound (other processes)"
		}
		logf("%s: %s: waited %.1fs for free page reporting: %s reported%s (not timed)", tool, phase, waited.Seconds(), mb(moved), still)
	}
	return release
}

// appFiles says which files are the app's live database (the bench is the
// app: it holds the database open through SQLite), which the bench itself
// must not open (appFiles in prefetch.go); nil without a corpus.
func (b *benchRun) appFiles() func(path string) bool {
	if b.corpus == nil {
		return nil
	}
	return appFiles(b.corpus.DBPath)
}

// machineInfo describes where the run happened.
func machineInfo() Machine {
	m := Machine{NProc: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemMB = kb / 1024
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	return m
}

package source

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The app in a process of its own, as a chat app runs beside the daemon:
// it commits a message when told, and runs `PRAGMA wal_checkpoint(TRUNCATE)`
// every millisecond (busy_timeout 5 s, SQLite's default busy handler) from
// "loop" until "stop", then prints how long each took. Commands come on
// stdin, one a line; every reply is one line.
func runAppLoop(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	in := bufio.NewScanner(os.Stdin)
	next, _ := strconv.ParseInt(os.Getenv(envAppNext), 10, 64) // the last message's id
	var stop chan struct{}
	var done chan []time.Duration
	for in.Scan() {
		switch in.Text() {
		case "commit":
			next++
			if err := commitMessage(db, next); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			fmt.Println("ok")
		case "edit": // every tenth message: pages all over the database
			if _, err := db.Exec("UPDATE msg SET body = randomblob(length(body)) WHERE id % 10 = 0"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			fmt.Println("ok")
		case "loop":
			stop, done = make(chan struct{}), make(chan []time.Duration, 1)
			go func() { done <- checkpointLoop(db, stop) }()
			fmt.Println("ok")
		case "stop":
			close(stop)
			waits := <-done
			js, _ := json.Marshal(waits)
			fmt.Println(string(js))
		}
	}
	return 0
}

// checkpointLoop runs TRUNCATE checkpoints 1 ms apart until stop, and
// returns how long each took.
func checkpointLoop(db *sql.DB, stop chan struct{}) []time.Duration {
	var waits []time.Duration
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		start := time.Now()
		var busy, logFrames, done int
		if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil || busy != 0 {
			waits = append(waits, time.Hour) // stands out: failed or gave up
		} else {
			waits = append(waits, time.Since(start))
		}
		select {
		case <-stop:
			return waits
		case <-tick.C:
		}
	}
}

// appLoop is the app's process, seen from the test.
type appLoop struct {
	tb  testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startAppLoop starts the app on the database at path, whose last
// message is last.
func startAppLoop(tb testing.TB, path string, last int) *appLoop {
	tb.Helper()
	a := &appLoop{tb: tb, cmd: exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")}
	a.cmd.Env = append(os.Environ(), envAppLoop+"="+path, fmt.Sprintf("%s=%d", envAppNext, last))
	a.cmd.Stderr = os.Stderr
	var err error
	if a.in, err = a.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	a.out = bufio.NewScanner(out)
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		a.in.Close()
		a.cmd.Wait() // ours: it exits once its stdin closes
	})
	return a
}

// do sends one command and returns the reply.
func (a *appLoop) do(cmd string) string {
	a.tb.Helper()
	if _, err := fmt.Fprintln(a.in, cmd); err != nil {
		a.tb.Fatal(err)
	}
	if !a.out.Scan() {
		a.tb.Fatalf("the app process ended (%v) on %q", a.out.Err(), cmd)
	}
	return a.out.Text()
}

func (a *appLoop) stop() []time.Duration {
	var waits []time.Duration
	if err := json.Unmarshal([]byte(a.do("stop")), &waits); err != nil {
		a.tb.Fatal(err)
	}
	return waits
}

// loopVisitor drains every file; for a database it asks for a dictionary
// sample, as the backup does when it has no dictionary, and starts the
// app's checkpoint loop once the read's first transaction is open (the
// checkpoints then come while the read holds the frames of the last
// commit, the bench's worst case).
type loopVisitor struct {
	drain
	app    *appLoop
	sample bool
	trace  txTrace
}

func (v *loopVisitor) File(info FileInfo, c Content) ([]byte, error) {
	sc, ok := c.(*sqliteContent)
	if !ok {
		return v.drain.File(info, c)
	}
	v.app.do("loop")
	if v.sample {
		sc.DictSample(80)
	}
	tok, err := v.drain.File(info, c)
	v.trace = sc.tr
	return tok, err
}

// BenchmarkCheckpointWaitDuringRead: the app (its own process) commits a
// message, then checkpoints (TRUNCATE, every ms) while the source reads
// the database whole, in pieces. Reports the longest checkpoint over all
// cycles, the share over 5 ms, and the read's longest stretch without a
// look at the checkpoint lock.
func BenchmarkCheckpointWaitDuringRead(b *testing.B) {
	root := b.TempDir()
	dbPath := filepath.Join(root, "msgstore.db")
	db := appDB(b, dbPath)
	createMessages(b, db, 150_000)
	mustExec(b, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	app := startAppLoop(b, dbPath, 150_000)
	// The backup's sealing workers hash and compress while the source
	// reads: CHATSAFE_BENCH_BURN goroutines stand for them.
	burners, _ := strconv.Atoi(os.Getenv("CHATSAFE_BENCH_BURN"))
	var all []time.Duration
	var blind time.Duration
	var blindIn string
	for i := 0; i < b.N; i++ {
		app.do("commit")
		v := &loopVisitor{app: app, sample: os.Getenv("CHATSAFE_BENCH_SAMPLE") != ""}
		s := NewScanner(root, Options{Cache: emptyCache(b), CarryPages: true})
		stopBurn := burn(burners)
		err := s.Scan(context.Background(), v)
		stopBurn()
		if err != nil {
			b.Fatal(err)
		}
		waits := app.stop()
		all = append(all, waits...)
		if v.trace.blind > blind {
			blind, blindIn = v.trace.blind, v.trace.blindIn
		}
		if testing.Verbose() {
			slices.Sort(waits)
			b.Logf("cycle %d: %d checkpoints, longest %v; read: %d transactions, longest %v, longest without a look %v in %s",
				i, len(waits), waits[len(waits)-1], v.trace.txs, v.trace.longestTx, v.trace.blind, v.trace.blindIn)
		}
	}
	slices.Sort(all)
	over := 0
	for _, w := range all {
		if w > 5*time.Millisecond {
			over++
		}
	}
	b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max-ckpt-ms")
	b.ReportMetric(100*float64(over)/float64(len(all)), "%over5ms")
	b.ReportMetric(float64(blind.Microseconds())/1000, "max-blind-ms")
	b.Logf("longest stretch without a look: %v in %s", blind, strings.TrimSpace(blindIn))
}

// burn runs n goroutines that keep a core busy until the returned func is
// called, which waits for them to end.
func burn(n int) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 1 << 16 {
					x = x*6364136223846793005 + 1442695040888963407
				}
				_ = x
			}
		}()
	}
	return func() { close(stop); wg.Wait() }
}

package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// stageProgress shows on stderr how a long command goes (prune, key
// rotate), stage by stage: on a terminal a bar per stage, as backup and
// restore show theirs; otherwise (a log, a timer's mail) one line when a
// stage starts. stdout keeps the command's result alone.
type stageProgress struct {
	w     io.Writer
	cmd   string
	term  bool
	stage string
	bar   *progressbar.ProgressBar
}

func newStageProgress(cmd string, stderr io.Writer) *stageProgress {
	return &stageProgress{w: stderr, cmd: cmd, term: isTerminal(stderr)}
}

// report is a store.ProgressFunc.
func (p *stageProgress) report(stage string, done, total int) {
	if stage != p.stage {
		p.finish()
		p.stage = stage
		if !p.term {
			fmt.Fprintf(p.w, "%s: %s\n", p.cmd, stage)
			return
		}
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.cmd+": "+stage), progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(20), progressbar.OptionThrottle(65*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true))
	}
	if p.bar != nil {
		p.bar.Set(done)
	}
}

// finish ends the stage's bar, if any, on its own line.
func (p *stageProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}

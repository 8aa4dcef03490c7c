// Package progress shows how far a check is, on stderr only (stdout carries
// the tables): a progress bar on a terminal, plain lines otherwise so logs
// of CI jobs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Reporter receives (done, total) updates from any goroutine.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	bar      *progressbar.ProgressBar
	// plain mode: last line printed
	lastDone  int
	lastTotal int
	lastAt    time.Time
	lastPct   int
	now       func() time.Time
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns a Reporter writing to w; terminal selects the bar.
func New(w io.Writer, terminal bool) *Reporter {
	return &Reporter{w: w, terminal: terminal, now: time.Now, lastPct: -1}
}

// Update records that done of total pairs are checked. It is safe to call
// concurrently; total may grow between calls.
func (r *Reporter) Update(done, total int) {
	if r == nil || total <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminal {
		r.updateBar(done, total)
		return
	}
	r.updatePlain(done, total)
}

func (r *Reporter) updateBar(done, total int) {
	if r.bar == nil {
		r.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription("Do check..."),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetTheme(progressbar.Theme{Saucer: "=", SaucerHead: ">", SaucerPadding: " ", BarStart: "[", BarEnd: "]"}),
		)
	}
	if r.bar.GetMax() != total {
		r.bar.ChangeMax(total)
	}
	_ = r.bar.Set(done)
}

// updatePlain prints a line at every 10% step and at most every 2 s in
// between, plus the final one.
func (r *Reporter) updatePlain(done, total int) {
	pct := done * 100 / total
	now := r.now()
	step := pct / 10
	due := step != r.lastPct || now.Sub(r.lastAt) >= 2*time.Second
	if done == total && (r.lastDone != done || r.lastTotal != total) {
		due = true
	}
	if !due || (done == r.lastDone && total == r.lastTotal) {
		return
	}
	fmt.Fprintf(r.w, "Do check... %d/%d pairs (%d%%)\n", done, total, pct)
	r.lastDone, r.lastTotal, r.lastAt, r.lastPct = done, total, now, step
}

// Finish ends the bar (a terminal line is cleared, so the tables that follow
// start on a clean line).
func (r *Reporter) Finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Finish()
		fmt.Fprintln(r.w)
		r.bar = nil
	}
}

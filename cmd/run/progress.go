package main

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"gemmavk/gemma3"
)

// progress draws bars on stderr for the slow steps: opening the model,
// uploading its weights to the GPU, encoding an image. It draws only when
// stderr is a terminal; in a pipe or a log it stays silent and the
// one-line summary that follows says what was done. Each bar is cleared
// when its step ends, so the terminal keeps only the summary.
type progress struct {
	w   io.Writer
	tty bool
}

// spinDelay is how long a step of unknown length runs before a spinner
// shows: quicker steps would only flicker.
const spinDelay = 300 * time.Millisecond

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) bar(label string, total int64, bytes bool) *progressbar.ProgressBar {
	known := total > 0
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowBytes(bytes),      // with a rate
		progressbar.OptionShowTotalBytes(bytes), // (50/235 MiB, 1.2 GiB/s)
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(50*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetSpinnerChangeInterval(0), // spin draws the spinner itself
		progressbar.OptionSetPredictTime(known),
		progressbar.OptionSetElapsedTime(known),
		showCount(known)) // (3/27), or for bytes (50/235 MiB)
}

// showCount shows the amounts done and in all, for a bar of known length.
func showCount(known bool) progressbar.Option {
	if !known {
		return func(*progressbar.ProgressBar) {}
	}
	return progressbar.OptionShowCount()
}

// hook returns a reporting function for one step, in the form of
// gemma3.Options.Progress: a bar labelled label appears on the first call
// and is cleared when done reaches total; later calls are ignored. With
// bytes the amounts show as sizes. The vision encoder reports through one
// of these per image.
func (p *progress) hook(label string, bytes bool) func(done, total int64) {
	if !p.tty {
		return func(int64, int64) {}
	}
	var b *progressbar.ProgressBar
	finished := false
	return func(done, total int64) {
		if finished || total <= 0 {
			return
		}
		if b == nil {
			b = p.bar(label, total, bytes)
		}
		if b.GetMax64() != total {
			b.ChangeMax64(total)
		}
		b.Set64(done)
		if done >= total {
			finished = true
			b.Finish()
		}
	}
}

// spin shows label with a spinner while a step of unknown length runs, if
// it runs longer than spinDelay. The returned stop ends the step and has
// cleared the spinner when it returns.
func (p *progress) spin(label string) (stop func()) {
	if !p.tty {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-done:
			return
		case <-time.After(spinDelay):
		}
		b := p.bar(label, -1, false)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				b.Clear()
				return
			case <-tick.C:
				b.Add(1)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-exited
		})
	}
}

// loadModel opens the model with a spinner while it is mapped and checked.
func loadModel(path string, p *progress) (*gemma3.Model, error) {
	stop := p.spin("opening " + filepath.Base(path))
	defer stop()
	return gemma3.Load(path)
}

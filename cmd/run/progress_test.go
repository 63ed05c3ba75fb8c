package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestProgressSilentOffTerminal: into a pipe or a file, no bar is drawn.
func TestProgressSilentOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	up := p.hook("uploading weights", true)
	up(10, 100)
	up(100, 100)
	stop := p.spin("opening model.gguf")
	time.Sleep(spinDelay + 100*time.Millisecond)
	stop()
	if buf.Len() != 0 {
		t.Errorf("wrote %q off a terminal", buf.String())
	}
}

// TestProgressOnTerminal: on a terminal the bar shows the step and is
// cleared at the end; a quick step of unknown length draws nothing, a slow
// one a spinner that is cleared too.
func TestProgressOnTerminal(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(master) // until the terminal side closes
		got <- string(b)
	}()
	p := newProgress(tty)
	if !p.tty {
		t.Fatal("a pseudo-terminal is not taken for a terminal")
	}
	p.spin("quick step")()
	up := p.hook("uploading weights", true)
	up(50<<20, 100<<20)
	up(100<<20, 100<<20)
	up(100<<20, 100<<20) // after the end: ignored
	stop := p.spin("opening model.gguf")
	time.Sleep(spinDelay + 250*time.Millisecond)
	stop()
	tty.Close()
	out := <-got
	for _, want := range []string{"uploading weights", "50/100 MiB", "opening model.gguf"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, "quick step") {
		t.Errorf("a step quicker than %v drew a spinner: %q", spinDelay, out)
	}
	// Each bar ends cleared: the last thing written is a carriage return
	// after blanks.
	if i := strings.LastIndex(out, "\r"); i < 0 || strings.TrimSpace(out[strings.LastIndex(out[:i], "\r")+1:i]) != "" {
		t.Errorf("the last bar is not cleared: %q", out)
	}
}

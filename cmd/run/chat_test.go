package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestChatCommands runs the slash commands through piped input: /save then
// /load then /save gives the same file, a bad file is refused with the
// conversation kept, /system sets and shows the prompt, a mistyped command
// gets a hint, and a // line is a message.
func TestChatCommands(t *testing.T) {
	model := realModelPath(t)
	dir := t.TempDir()
	a, b, bad := filepath.Join(dir, "a.json"), filepath.Join(dir, "b b.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"messages":[{"role":"model","content":"hi"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"What is 2+2?",
		"/save " + a,
		"/stats",
		"/load " + bad,
		"/load " + filepath.Join(dir, "missing.json"),
		"/stats",
		"/load " + a,
		`/save "` + b + `"`,
		"/system Answer in French.",
		"/system",
		"/stat",
		"/image cat.png",
		"//usr is a directory?",
		"/bye",
		"never read",
	}, "\n") + "\n"
	out, stderr, err := runArgs(t, script, "-m", model, "-n", "6", "--ctx", "256")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	saved, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved, again) {
		t.Errorf("/load then /save changed the conversation:\n%s\nthen\n%s", saved, again)
	}
	msgs, err := readChat(a)
	if err != nil || len(msgs) != 2 || msgs[0].Content != "What is 2+2?" || msgs[1].Role != "model" {
		t.Errorf("saved conversation %q (%v), want the question and the answer", msgs, err)
	}
	stats := regexp.MustCompile(`context: (\d+) of 256 tokens`).FindAllStringSubmatch(stderr, -1)
	if len(stats) != 2 || stats[0][1] != stats[1][1] || stats[0][1] == "0" {
		t.Errorf("/stats before and after the bad /load: %q, want the same nonzero count", stats)
	}
	for _, want := range []string{
		"saved 1 turn to " + a,
		`/load ` + bad + `: gemma3: restore chat: message 0 has role "model", want "user"`,
		"the current conversation is kept",
		"no such file or directory",
		"loaded 1 turn from " + a,
		"system prompt set; new conversation",
		"system prompt: Answer in French.",
		"did you mean /stats?",
		"no vision encoder",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Prompts: 13 lines up to /bye, each after a prompt; the // line is
	// answered, so it is a message.
	if n := strings.Count(out, "> "); n != 14 {
		t.Errorf("%d prompts, want 14:\n%s", n, out)
	}
}

// ptyChat is the chat binary running on a pseudo-terminal, with everything
// it prints collected.
type ptyChat struct {
	t   *testing.T
	tty *os.File
	cmd *exec.Cmd
	mu  sync.Mutex
	out []byte
	eof chan struct{}
}

// startPTY builds cmd/run and starts it on a pseudo-terminal.
func startPTY(t *testing.T, args ...string) *ptyChat {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "run")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := &ptyChat{t: t, cmd: exec.Command(bin, args...), eof: make(chan struct{})}
	if p.tty, err = pty.StartWithSize(p.cmd, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.tty.Close()
	})
	go func() {
		defer close(p.eof)
		buf := make([]byte, 4096)
		for {
			n, err := p.tty.Read(buf)
			p.mu.Lock()
			p.out = append(p.out, buf[:n]...)
			p.mu.Unlock()
			if err != nil {
				return // EIO once the child has exited
			}
		}
	}()
	return p
}

// ptyTimeout bounds each wait; it only turns a hang into a failure.
const ptyTimeout = 2 * time.Minute

// expect waits until the output after offset from contains want, and
// returns the offset just past it.
func (p *ptyChat) expect(from int, want string) int {
	p.t.Helper()
	deadline := time.Now().Add(ptyTimeout)
	for {
		p.mu.Lock()
		out := string(p.out)
		p.mu.Unlock()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-p.eof:
			p.t.Fatalf("the program ended before printing %q; after offset %d it printed:\n%s", want, from, out[from:])
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in %v; after offset %d:\n%s", want, ptyTimeout, from, out[from:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitText waits until at least n letters have been printed after from.
func (p *ptyChat) waitText(from, n int) string {
	p.t.Helper()
	deadline := time.Now().Add(ptyTimeout)
	letters := regexp.MustCompile(`\pL`)
	for {
		p.mu.Lock()
		out := string(p.out[from:])
		p.mu.Unlock()
		if len(letters.FindAllString(out, -1)) >= n {
			return out
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("fewer than %d letters in %v:\n%s", n, ptyTimeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *ptyChat) send(s string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// TestChatTerminal drives the chat as a person would, through a
// pseudo-terminal: a message streams an answer, Ctrl-C stops it and the
// chat takes the next line, /stats and /help answer, Ctrl-C at the prompt
// only prints a hint, and /bye exits with status 0.
func TestChatTerminal(t *testing.T) {
	model := realModelPath(t)
	// --ignore-eos with a large -n: the answer runs until it is stopped.
	p := startPTY(t, "-m", model, "--backend", "cpu", "--ctx", "1024", "-n", "1000", "--ignore-eos")
	at := p.expect(0, "run: CPU | gemma-3-270m-q4_k_m.gguf: 18 layers")
	at = p.expect(at, "context 1024")
	at = p.expect(at, "/help lists the commands")
	at = p.expect(at, "> ")

	p.send("Tell me a story about a lighthouse.\r")
	at = p.expect(at, "lighthouse.\r\n") // the terminal's echo
	// Streamed: with --ignore-eos the answer cannot have ended yet.
	p.waitText(at, 20)
	p.send("\x03")
	at = p.expect(at, "[stopped]")
	at = p.expect(at, "> ")

	p.send("/stats\r")
	at = p.expect(at, "context: ")
	at = p.expect(at, " of 1024 tokens")
	at = p.expect(at, "last answer: prompt ")
	at = p.expect(at, "> ")

	p.send("/help\r")
	at = p.expect(at, "/image PATH")
	at = p.expect(at, "/bye, /exit, /quit")
	at = p.expect(at, "> ")

	p.send("\x03")
	at = p.expect(at, "Ctrl-C stops an answer while it is written")
	at = p.expect(at, "> ")

	// The chat still answers after both interrupts.
	p.send("Hi\r")
	at = p.expect(at, "Hi\r\n")
	p.waitText(at, 5)
	p.send("\x03")
	at = p.expect(at, "[stopped]")
	p.expect(at, "> ")

	p.send("/bye\r")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after /bye: %v", err)
		}
	case <-time.After(ptyTimeout):
		t.Fatal("the program did not exit after /bye")
	}
	<-p.eof
}

// TestChatNeedsTokenizer: a model without a tokenizer cannot chat, and says
// so before the first prompt.
func TestChatNeedsTokenizer(t *testing.T) {
	out, _, err := runArgs(t, "hello\n", "-m", tinyDir)
	if err == nil || !strings.Contains(err.Error(), "no tokenizer") {
		t.Fatalf("error %v, want one about the missing tokenizer", err)
	}
	if strings.Contains(out, "> ") {
		t.Errorf("a prompt was shown: %q", out)
	}
}

// fakeAttacher records what /image hands the vision code.
type fakeAttacher struct {
	paths []string
	err   error
}

func (f *fakeAttacher) Attach(path string) error {
	if f.err != nil {
		return f.err
	}
	f.paths = append(f.paths, path)
	return nil
}

// TestImageCommand: /image checks the file, hands it to the attacher and
// says what happened; without an attacher it says the model cannot see.
func TestImageCommand(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "my photo.png")
	if err := os.WriteFile(photo, []byte("not decoded here"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		attacher *fakeAttacher
		line     string
		want     string // in the note or the error
		attached bool
	}{
		{"attached", &fakeAttacher{}, `/image "` + photo + `"`, "attached " + photo, true},
		{"missing file", &fakeAttacher{}, "/image " + filepath.Join(dir, "nope.png"), "no such file", false},
		{"attacher refuses", &fakeAttacher{err: errors.New("unsupported image format")}, `/image "` + photo + `"`, "unsupported image format", false},
		{"no vision", nil, `/image "` + photo + `"`, "no vision encoder", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var note strings.Builder
			u := &chatUI{note: &note}
			if tc.attacher != nil {
				u.images = tc.attacher
			}
			call, err := parseSlash(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if _, err = u.command(call); err != nil {
				note.WriteString(err.Error())
			}
			if !strings.Contains(note.String(), tc.want) {
				t.Errorf("printed %q, want %q", note.String(), tc.want)
			}
			if tc.attacher != nil && (len(tc.attacher.paths) == 1) != tc.attached {
				t.Errorf("attached %q", tc.attacher.paths)
			}
			if tc.attached && tc.attacher.paths[0] != photo {
				t.Errorf("attached %q, want %q", tc.attacher.paths[0], photo)
			}
		})
	}
}

package gemma3

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"gemmavk/tokenizer"
)

// TestRestoreChatRejects: a history that is not a conversation is refused
// with a message naming the problem, and the session keeps its tokens.
func TestRestoreChatRejects(t *testing.T) {
	m := loadTiny(t)
	s, err := m.NewSession(Options{Ctx: 32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run([]int{2, 3, 4}, StepOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := func(role, content string) tokenizer.Message { return tokenizer.Message{Role: role, Content: content} }
	for _, tc := range []struct {
		name string
		msgs []tokenizer.Message
		want string
	}{
		{"model first", []tokenizer.Message{msg("model", "hi"), msg("user", "hello")}, `role "model", want "user"`},
		{"two users", []tokenizer.Message{msg("user", "a"), msg("user", "b")}, `role "user", want "model"`},
		{"second system", []tokenizer.Message{msg("system", "a"), msg("system", "b")}, `role "system"`},
		{"unknown role", []tokenizer.Message{msg("bot", "a")}, `role "bot"`},
		{"ends with user", []tokenizer.Message{msg("user", "a"), msg("model", "b"), msg("user", "c")}, "last message is the user's"},
		{"empty user", []tokenizer.Message{msg("user", "  "), msg("model", "b")}, "empty user message"},
		{"image part", []tokenizer.Message{{Role: "user", Parts: []tokenizer.Part{{Type: "image"}}}, msg("model", "b")}, "only text"},
		{"no tokenizer", []tokenizer.Message{msg("user", "a"), msg("model", "b")}, "no tokenizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RestoreChat(s, tc.msgs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if got := s.Tokens(); !reflect.DeepEqual(got, []int{2, 3, 4}) {
				t.Fatalf("session tokens %v after a refused restore, want them kept", got)
			}
		})
	}
}

// TestChatRestore: Messages records each turn as the user saw it (an
// interrupted answer as far as it got), and a conversation restored from
// it on a fresh session continues with the same greedy answer as the
// original one.
func TestChatRestore(t *testing.T) {
	m := realModel(t)
	open := func() *Session {
		s, err := m.NewSession(Options{Ctx: 256})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// send returns what was streamed, stopping after stopAfter tokens when
	// positive.
	send := func(c *Chat, text string, max, stopAfter int) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var sb strings.Builder
		d := m.Tokenizer.NewStreamDecoder()
		n := 0
		_, err := c.Send(ctx, text, GenerateOptions{MaxTokens: max, OnToken: func(id int) error {
			sb.WriteString(d.Push(id))
			if n++; n == stopAfter {
				cancel()
			}
			return nil
		}})
		if err != nil && !(stopAfter > 0 && errors.Is(err, context.Canceled)) {
			t.Fatal(err)
		}
		return sb.String() + d.Flush()
	}
	c := NewChat(open(), "Answer in one short sentence.")
	a1 := send(c, "What is the capital of France?", 12, 0)
	a2 := send(c, " Tell me a long story about it. ", 64, 5)
	want := []tokenizer.Message{
		{Role: "system", Content: "Answer in one short sentence."},
		{Role: "user", Content: "What is the capital of France?"},
		{Role: "model", Content: a1},
		{Role: "user", Content: "Tell me a long story about it."},
		{Role: "model", Content: a2},
	}
	if got := c.Messages(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Messages:\n got %q\nwant %q", got, want)
	}
	r, err := RestoreChat(open(), c.Messages())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Messages(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored Messages:\n got %q\nwant %q", got, want)
	}
	next, restored := send(c, "And of Italy?", 12, 0), send(r, "And of Italy?", 12, 0)
	t.Logf("answers %q, %q; next %q", a1, a2, next)
	if next != restored {
		t.Errorf("after the restore the model answers %q, in the original conversation %q", restored, next)
	}

	// A history longer than the context is refused before the session is
	// touched.
	small, err := m.NewSession(Options{Ctx: 32})
	if err != nil {
		t.Fatal(err)
	}
	kept := NewChat(small, "")
	send(kept, "Hi", 2, 0)
	before := append([]int(nil), small.Tokens()...)
	long := []tokenizer.Message{{Role: "user", Content: strings.Repeat("word ", 40)}, {Role: "model", Content: "ok"}}
	if _, err := RestoreChat(small, long); !errors.Is(err, ErrContextFull) {
		t.Fatalf("restoring %d words into 32 tokens: %v, want ErrContextFull", 40, err)
	}
	if !reflect.DeepEqual(small.Tokens(), before) {
		t.Errorf("the refused restore changed the session")
	}
}

package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// chatFixture is testdata/chat.json: conversations with their rendered
// prompts, then entries holding token ids.
type chatFixture struct {
	conversations []chatConversation
	prompt0IDs    []int
}

type chatConversation struct {
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt string `json:"prompt"`
}

func readChat(t *testing.T) chatFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "chat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatal(err)
	}
	var f chatFixture
	for _, e := range entries {
		var probe struct {
			Messages   json.RawMessage `json:"messages"`
			Prompt0IDs []int           `json:"prompt0_ids"`
		}
		if err := json.Unmarshal(e, &probe); err != nil {
			t.Fatal(err)
		}
		switch {
		case probe.Messages != nil:
			var c chatConversation
			if err := json.Unmarshal(e, &c); err != nil {
				t.Fatal(err)
			}
			f.conversations = append(f.conversations, c)
		case probe.Prompt0IDs != nil:
			f.prompt0IDs = probe.Prompt0IDs
		}
	}
	if len(f.conversations) != 3 || f.prompt0IDs == nil {
		t.Fatalf("chat.json: %d conversations, prompt0_ids %v; want 3 and ids", len(f.conversations), f.prompt0IDs != nil)
	}
	return f
}

// toMessages converts HF-style messages (string or list content).
func (c chatConversation) toMessages(t *testing.T) []Message {
	t.Helper()
	var msgs []Message
	for _, m := range c.Messages {
		msg := Message{Role: m.Role}
		if err := json.Unmarshal(m.Content, &msg.Content); err != nil {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				t.Fatalf("content %s: %v", m.Content, err)
			}
			msg.Parts = []Part{}
			for _, p := range parts {
				msg.Parts = append(msg.Parts, Part{Type: p.Type, Text: p.Text})
			}
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

func TestRenderChatFixture(t *testing.T) {
	f := readChat(t)
	for i, c := range f.conversations {
		got, err := RenderChat(c.toMessages(t), true)
		if err != nil {
			t.Errorf("conversation %d: %v", i, err)
			continue
		}
		if got != c.Prompt {
			t.Errorf("conversation %d:\n got  %q\n want %q", i, got, c.Prompt)
		}
	}
}

func TestChatPromptIDs(t *testing.T) {
	tok := gemma(t)
	f := readChat(t)
	// transformers' ids start with <bos><bos> (its tokenizer adds one in
	// front of the template's); the correct sequence has exactly one.
	want := f.prompt0IDs
	if len(want) < 2 || want[0] != 2 || want[1] != 2 {
		t.Fatalf("prompt0_ids should start with the double <bos>: %v", want[:2])
	}
	want = want[1:]
	got := tok.Encode(f.conversations[0].Prompt, true)
	if !slices.Equal(got, want) {
		t.Errorf("Encode(prompt 0):\n got  %v\n want %v", got, want)
	}
	bos := 0
	for _, id := range got {
		if id == tok.BOS() {
			bos++
		}
	}
	if bos != 1 || got[0] != tok.BOS() {
		t.Errorf("want exactly one <bos>, at the start: %v", got)
	}
}

// TestChatWorkedExample is GEMMA3.md §8.4.
func TestChatWorkedExample(t *testing.T) {
	prompt, err := RenderChat([]Message{{Role: "user", Content: "Hi"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"; prompt != want {
		t.Fatalf("prompt %q, want %q", prompt, want)
	}
	tok := gemma(t)
	want := []int{2, 105, 2364, 107, 10979, 106, 107, 105, 4368, 107}
	if got := tok.Encode(prompt, true); !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
}

func TestRenderChatRules(t *testing.T) {
	for _, c := range []struct {
		name string
		msgs []Message
		gen  bool
		want string
	}{
		{
			"history without generation prompt",
			[]Message{{Role: "user", Content: "a"}, {Role: "model", Content: " b\n"}},
			false,
			"<bos><start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n",
		},
		{
			"system text is not trimmed, user text is",
			[]Message{{Role: "system", Content: " sys "}, {Role: "user", Content: "\tq\x1f"}},
			true,
			"<bos><start_of_turn>user\n sys \n\nq<end_of_turn>\n<start_of_turn>model\n",
		},
		{
			"system with list content uses the first part",
			[]Message{{Role: "system", Parts: []Part{{Type: "text", Text: "S"}, {Type: "text", Text: "ignored"}}}, {Role: "user", Content: "u"}},
			false,
			"<bos><start_of_turn>user\nS\n\nu<end_of_turn>\n",
		},
		{
			"parts: images and trimmed texts, nothing between",
			[]Message{{Role: "user", Parts: []Part{{Type: "text", Text: " Compare "}, {Type: "image"}, {Type: "image"}, {Type: "text", Text: "\u00a0ok"}}}},
			true,
			"<bos><start_of_turn>user\nCompare<start_of_image><start_of_image>ok<end_of_turn>\n<start_of_turn>model\n",
		},
		{
			"empty parts",
			[]Message{{Role: "user", Parts: []Part{}}},
			false,
			"<bos><start_of_turn>user\n<end_of_turn>\n",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RenderChat(c.msgs, c.gen)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestRenderChatErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		msgs  []Message
		roles bool // wraps ErrRoles
		want  string
	}{
		{"no messages", nil, false, "no messages"},
		{"assistant first", []Message{{Role: "assistant", Content: "x"}}, true, "alternate"},
		{"assistant after system", []Message{{Role: "system", Content: "s"}, {Role: "assistant", Content: "x"}}, true, "alternate"},
		{"two users", []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}, true, "alternate"},
		{"two models", []Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "model", Content: "c"}}, true, "alternate"},
		{"system later", []Message{{Role: "user", Content: "a"}, {Role: "system", Content: "b"}}, true, "system"},
		{"system only", []Message{{Role: "system", Content: "s"}}, true, "without a user turn"},
		{"unknown role", []Message{{Role: "tool", Content: "a"}}, false, "unknown role"},
		{"unknown part", []Message{{Role: "user", Parts: []Part{{Type: "audio"}}}}, false, "unknown type"},
		{"system image first", []Message{{Role: "system", Parts: []Part{{Type: "image"}}}, {Role: "user", Content: "u"}}, false, "text part"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := RenderChat(c.msgs, true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if errors.Is(err, ErrRoles) != c.roles {
				t.Errorf("errors.Is(err, ErrRoles) = %v, want %v", !c.roles, c.roles)
			}
		})
	}
}

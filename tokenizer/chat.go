package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Part is one item of a message with list content.
type Part struct {
	Type string // "text" or "image"
	Text string // the text of a "text" part
}

// Message is one chat turn.
type Message struct {
	Role    string // "system", "user", "assistant" or "model"
	Content string // used when Parts is nil
	Parts   []Part // list content; used instead of Content when non-nil
}

// Gemma chat template pieces (GEMMA3.md §8).
const (
	BOSText          = "<bos>"              // start of every sequence (id 2)
	StartOfTurn      = "<start_of_turn>"    // turn header (id 105)
	EndOfTurn        = "<end_of_turn>"      // end of a turn, a stop token (id 106)
	StartOfImageText = "<start_of_image>"   // begin-of-image marker (id 255999)
	EndOfImageText   = "<end_of_image>"     // end-of-image marker (id 256000)
	ImageSoftToken   = "<image_soft_token>" // image placeholder (id 262144)
)

// ErrRoles is wrapped by RenderChat's errors about the order of roles.
var ErrRoles = errors.New("conversation roles must alternate user/assistant/user/assistant/...")

// RenderChat renders a conversation with the Gemma 3 chat template
// (tokenizer_config.json's chat_template, GEMMA3.md §8.2):
//
//	<bos><start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n{answer}<end_of_turn>\n…
//
// The result starts with the one <bos> of the sequence; encode it with
// Encode(prompt, true) and add no other. An optional leading system message
// is folded into the first user turn as its text (untrimmed, as the template
// does; for list content the first part's text) followed by "\n\n". The
// remaining turns must alternate user, model, user, … where "assistant" is
// rendered as "model". Text content is whitespace-trimmed (Python str.strip,
// like Jinja's trim filter); in list content an image part becomes
// <start_of_image> and text parts their trimmed text, concatenated. With
// addGenerationPrompt the prompt ends with "<start_of_turn>model\n".
//
// The template would render a stray role such as a second "system" message
// as a turn of that name and would silently drop a system message that is
// not followed by a user turn; RenderChat reports both as errors, as it does
// for unknown part types.
func RenderChat(msgs []Message, addGenerationPrompt bool) (string, error) {
	if len(msgs) == 0 {
		return "", errors.New("chat: no messages")
	}
	var sb strings.Builder
	sb.WriteString(BOSText)
	prefix := ""
	if msgs[0].Role == "system" {
		s := msgs[0].Content
		if msgs[0].Parts != nil {
			if len(msgs[0].Parts) == 0 || msgs[0].Parts[0].Type != "text" {
				return "", errors.New("chat: system message: list content must start with a text part")
			}
			s = msgs[0].Parts[0].Text
		}
		prefix = s + "\n\n"
		msgs = msgs[1:]
		if len(msgs) == 0 {
			return "", fmt.Errorf("chat: system message without a user turn: %w", ErrRoles)
		}
	}
	for i, m := range msgs {
		var role string
		switch m.Role {
		case "user":
			role = "user"
		case "assistant", "model":
			role = "model"
		case "system":
			return "", fmt.Errorf("chat: message %d: system message after the first: %w", i, ErrRoles)
		default:
			return "", fmt.Errorf("chat: message %d: unknown role %q", i, m.Role)
		}
		if (role == "user") != (i%2 == 0) {
			return "", fmt.Errorf("chat: message %d has role %q: %w", i, m.Role, ErrRoles)
		}
		sb.WriteString(StartOfTurn)
		sb.WriteString(role)
		sb.WriteByte('\n')
		if i == 0 {
			sb.WriteString(prefix)
		}
		if m.Parts == nil {
			sb.WriteString(trimPy(m.Content))
		} else {
			for j, p := range m.Parts {
				switch p.Type {
				case "image":
					sb.WriteString(StartOfImageText)
				case "text":
					sb.WriteString(trimPy(p.Text))
				default:
					return "", fmt.Errorf("chat: message %d part %d: unknown type %q (want text or image)", i, j, p.Type)
				}
			}
		}
		sb.WriteString(EndOfTurn)
		sb.WriteByte('\n')
	}
	if addGenerationPrompt {
		sb.WriteString(StartOfTurn)
		sb.WriteString("model\n")
	}
	return sb.String(), nil
}

// trimPy trims whitespace as Python's str.strip() does: unicode.IsSpace
// plus the separators U+001C–U+001F, which Python also counts as space.
func trimPy(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/google/shlex"

	"gemmavk/tokenizer"
)

// argKind is what a slash command takes after its name.
type argKind int

const (
	noArg   argKind = iota
	wordArg         // one word, shell-quoted when it holds spaces: /image "my photo.png"
	textArg         // the rest of the line as typed (quotes kept), or one quoted string
)

// slashCommand is one of the chat's commands.
type slashCommand struct {
	name     string
	aliases  []string
	arg      argKind
	optional bool   // the argument may be left out
	usage    string // the argument in /help, e.g. PATH
	help     string
}

// slashCommands is the chat's command table, in /help order.
func slashCommands() []slashCommand {
	return []slashCommand{
		{name: "image", arg: wordArg, usage: "PATH", help: "attach an image to your next message (quote a path with spaces)"},
		{name: "system", arg: textArg, optional: true, usage: "[TEXT]", help: "set the system prompt and start a new conversation; alone, show it"},
		{name: "reset", help: "start a new conversation (the system prompt stays)"},
		{name: "save", arg: wordArg, usage: "FILE", help: "save the conversation as JSON"},
		{name: "load", arg: wordArg, usage: "FILE", help: "continue a conversation saved with /save"},
		{name: "stats", help: "context used, KV cache, speed of the last answer"},
		{name: "help", aliases: []string{"?"}, help: "this list"},
		{name: "bye", aliases: []string{"exit", "quit"}, help: "leave the chat (Ctrl-D too)"},
	}
}

// slashCall is a parsed command line: the command and its argument.
type slashCall struct {
	cmd    slashCommand
	arg    string
	hasArg bool
}

// isSlash reports whether a chat line is a command. A line starting with
// "//" is a message that starts with "/".
func isSlash(line string) bool {
	return strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//")
}

// parseSlash parses a command line such as `/image "my photo.png"`.
func parseSlash(line string) (slashCall, error) {
	body := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "/"))
	name, rest := body, ""
	if i := strings.IndexFunc(body, unicode.IsSpace); i >= 0 {
		name, rest = body[:i], strings.TrimSpace(body[i:])
	}
	name = strings.ToLower(name)
	cmds := slashCommands()
	var cmd *slashCommand
	for i := range cmds {
		if cmds[i].name == name || slices.Contains(cmds[i].aliases, name) {
			cmd = &cmds[i]
		}
	}
	if cmd == nil {
		return slashCall{}, unknownCommand(name, cmds)
	}
	call := slashCall{cmd: *cmd}
	switch cmd.arg {
	case noArg:
		if rest != "" {
			return call, fmt.Errorf("/%s takes no argument (got %q)", cmd.name, rest)
		}
		return call, nil
	case textArg:
		call.arg, call.hasArg = rest, rest != ""
		if strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, "'") {
			// A quoted string is taken unquoted: /system "" clears.
			if w, err := shlex.Split(rest); err == nil && len(w) == 1 {
				call.arg = w[0]
			}
		}
	case wordArg:
		words, err := shlex.Split(rest)
		if err != nil {
			return call, fmt.Errorf("/%s: unbalanced quotes in %s (write /%s \"my file.png\")", cmd.name, rest, cmd.name)
		}
		if len(words) > 1 {
			return call, fmt.Errorf("/%s takes one %s, got %d words; quote a name with spaces: /%s \"%s\"",
				cmd.name, cmd.usage, len(words), cmd.name, strings.Join(words, " "))
		}
		if len(words) == 1 {
			call.arg, call.hasArg = words[0], true
		}
	}
	if !call.hasArg && !cmd.optional {
		return call, fmt.Errorf("/%s needs %s: /%s %s", cmd.name, cmd.usage, cmd.name, cmd.usage)
	}
	return call, nil
}

// unknownCommand names the commands that look like what was typed.
func unknownCommand(name string, cmds []slashCommand) error {
	if name == "" {
		return errors.New("a command goes right after the slash: /help lists them (start a message with // to send a slash)")
	}
	var near []string
	for _, c := range cmds {
		for _, n := range append([]string{c.name}, c.aliases...) {
			typos := 1 // a short name is near too many others with two
			if len(n) >= 5 {
				typos = 2
			}
			if len(n) > 1 && (strings.HasPrefix(n, name) || editDistance(n, name) <= typos) {
				near = append(near, "/"+n)
				break
			}
		}
	}
	hint := ""
	if len(near) > 0 {
		hint = "did you mean " + strings.Join(near, " or ") + "? "
	}
	return fmt.Errorf("unknown command /%s; %s/help lists the commands (start a message with // to send a slash)", name, hint)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

// writeHelp lists the commands.
func writeHelp(w io.Writer) {
	for _, c := range slashCommands() {
		name := "/" + c.name
		for _, a := range c.aliases {
			name += ", /" + a
		}
		if c.usage != "" {
			name += " " + c.usage
		}
		fmt.Fprintf(w, "  %-22s %s\n", name, c.help)
	}
	fmt.Fprintln(w, "  A line ending in \\ continues on the next; // starts a message with a slash.")
	fmt.Fprintln(w, "  Ctrl-C stops an answer; Ctrl-D leaves.")
}

// expandHome turns a leading ~/ into the home directory, as a shell would.
func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}

// chatFile is a saved conversation (/save, /load).
type chatFile struct {
	System   string         `json:"system,omitempty"`
	Messages *[]chatMessage `json:"messages"`
}

// chatMessage is one turn of a saved conversation: role "user" or "model".
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// saveChat writes a conversation (as gemma3.Chat.Messages gives it: an
// optional system message first) as indented JSON. Images are not saved
// (savedText).
func saveChat(path string, msgs []tokenizer.Message) error {
	f := chatFile{Messages: &[]chatMessage{}}
	for i, m := range msgs {
		if i == 0 && m.Role == "system" {
			f.System = m.Content
			continue
		}
		text, _ := savedText(m)
		*f.Messages = append(*f.Messages, chatMessage{Role: m.Role, Content: text})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// readChat reads a file saveChat wrote. It checks the JSON's shape;
// gemma3.RestoreChat checks the conversation (roles, order, length).
func readChat(path string) ([]tokenizer.Message, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f chatFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a saved chat: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a saved chat: data after the JSON object")
	}
	if f.Messages == nil {
		return nil, errors.New(`not a saved chat: no "messages" list`)
	}
	var msgs []tokenizer.Message
	if f.System != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: f.System})
	}
	for i, m := range *f.Messages {
		if m.Role == "system" {
			return nil, fmt.Errorf("message %d: the system prompt goes in the \"system\" field", i)
		}
		msgs = append(msgs, tokenizer.Message{Role: m.Role, Content: m.Content})
	}
	return msgs, nil
}

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gemmavk/tokenizer"
)

func TestParseSlash(t *testing.T) {
	for _, tc := range []struct {
		line    string
		cmd     string
		arg     string
		hasArg  bool
		wantErr string // part of the error; "" for none
	}{
		{line: "/help", cmd: "help"},
		{line: "  /HELP  ", cmd: "help"},
		{line: "/?", cmd: "help"},
		{line: "/exit", cmd: "bye"},
		{line: "/quit", cmd: "bye"},
		{line: "/image cat.png", cmd: "image", arg: "cat.png", hasArg: true},
		{line: `/image "my photo.png"`, cmd: "image", arg: "my photo.png", hasArg: true},
		{line: `/image 'my photo.png'`, cmd: "image", arg: "my photo.png", hasArg: true},
		{line: `/image my\ photo.png`, cmd: "image", arg: "my photo.png", hasArg: true},
		{line: "/image\tcat.png", cmd: "image", arg: "cat.png", hasArg: true},
		{line: "/save ~/chats/a.json", cmd: "save", arg: "~/chats/a.json", hasArg: true},
		{line: "/load a.json", cmd: "load", arg: "a.json", hasArg: true},
		{line: "/system You're a pirate. Say \"arr\".", cmd: "system", arg: `You're a pirate. Say "arr".`, hasArg: true},
		{line: `/system "be brief"`, cmd: "system", arg: "be brief", hasArg: true},
		{line: `/system ""`, cmd: "system", arg: "", hasArg: true},
		{line: "/system", cmd: "system"},
		// Missing, extra or badly quoted arguments.
		{line: "/image", wantErr: "/image needs PATH"},
		{line: "/save   ", wantErr: "/save needs FILE"},
		{line: "/load", wantErr: "/load needs FILE"},
		{line: "/image my photo.png", wantErr: `quote a name with spaces: /image "my photo.png"`},
		{line: `/image "my photo.png`, wantErr: "unbalanced quotes"},
		{line: "/stats now", wantErr: "/stats takes no argument"},
		{line: "/bye please", wantErr: "/bye takes no argument"},
		// Unknown commands, with a hint when one is close.
		{line: "/stat", wantErr: "did you mean /stats?"},
		{line: "/img x", wantErr: "did you mean /image?"},
		{line: "/sys", wantErr: "did you mean /system?"},
		{line: "/s", wantErr: "did you mean /system or /save or /stats?"},
		{line: "/frobnicate", wantErr: "unknown command /frobnicate; /help lists"},
		{line: "/", wantErr: "/help lists them"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			call, err := parseSlash(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if call.cmd.name != tc.cmd || call.arg != tc.arg || call.hasArg != tc.hasArg {
				t.Fatalf("got /%s arg %q (given %v), want /%s arg %q (given %v)",
					call.cmd.name, call.arg, call.hasArg, tc.cmd, tc.arg, tc.hasArg)
			}
		})
	}
}

func TestIsSlash(t *testing.T) {
	for line, want := range map[string]bool{"/help": true, "//usr is a directory": false, "hi /help": false, "": false} {
		if got := isSlash(line); got != want {
			t.Errorf("isSlash(%q) = %v", line, got)
		}
	}
}

// TestHelpListsEveryCommand: /help names each command of the table.
func TestHelpListsEveryCommand(t *testing.T) {
	var sb strings.Builder
	writeHelp(&sb)
	for _, c := range slashCommands() {
		if !strings.Contains(sb.String(), "/"+c.name) {
			t.Errorf("/help does not list /%s:\n%s", c.name, sb.String())
		}
	}
}

// TestChatFileRoundTrip: what saveChat writes, readChat gives back.
func TestChatFileRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []tokenizer.Message
	}{
		{"empty", nil},
		{"system only", []tokenizer.Message{{Role: "system", Content: "Be brief."}}},
		{"turns", []tokenizer.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "Hi \"there\"\nsecond line"},
			{Role: "model", Content: "Hello! ünïcode ✓ <b>"},
			{Role: "user", Content: "Bye"},
			{Role: "model", Content: ""},
		}},
		{"no system", []tokenizer.Message{{Role: "user", Content: "a"}, {Role: "model", Content: "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chat.json")
			if err := saveChat(path, tc.msgs); err != nil {
				t.Fatal(err)
			}
			got, err := readChat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.msgs) {
				t.Fatalf("read back %q, saved %q", got, tc.msgs)
			}
		})
	}
}

func TestReadChatRejects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty file", "", "not a saved chat"},
		{"not json", "hello", "not a saved chat"},
		{"array", `[{"role":"user","content":"a"}]`, "not a saved chat"},
		{"no messages", `{"system":"x"}`, `no "messages" list`},
		{"unknown field", `{"messages":[],"model":"x"}`, `unknown field "model"`},
		{"bad message", `{"messages":[{"role":"user","text":"a"}]}`, `unknown field "text"`},
		{"content type", `{"messages":[{"role":"user","content":3}]}`, "not a saved chat"},
		{"trailing data", `{"messages":[]} {}`, "data after the JSON object"},
		{"system in messages", `{"messages":[{"role":"system","content":"a"}]}`, `"system" field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readChat(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := readChat(filepath.Join(dir, "missing.json")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"stats", "stats", 0}, {"stat", "stats", 1}, {"stast", "stats", 2}, {"", "abc", 3}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

package gemma3

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gemmavk/internal/testutil"
	"gemmavk/tokenizer"
)

// TestImagePromptIDs renders, expands and tokenizes the processor
// fixture's Pan & Scan prompt with the real tokenizer: the ids are
// transformers' (less the second <bos> its processor adds).
func TestImagePromptIDs(t *testing.T) {
	tok, err := tokenizer.LoadHFJSON(testutil.AssetPath(t, "tokenizer/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "processor", "chat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		IDs       []int `json:"pan_and_scan_prompt_ids"`
		TypeIDSum int   `json:"token_type_ids_sum"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	// The Pan & Scan ids are those of the conversation with an image.
	var msgs []tokenizer.Message
	var want []int
	var softTokens int
	for _, c := range cases {
		if c.IDs != nil {
			want, softTokens = c.IDs, c.TypeIDSum
		}
		for _, m := range c.Messages {
			var parts []struct{ Type, Text string }
			if json.Unmarshal(m.Content, &parts) != nil {
				continue
			}
			msg := tokenizer.Message{Role: m.Role}
			for _, p := range parts {
				msg.Parts = append(msg.Parts, tokenizer.Part{Type: p.Type, Text: p.Text})
			}
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) != 1 || len(want) < 2 || want[0] != 2 || want[1] != 2 || softTokens%DefaultImageTokens != 0 {
		t.Fatalf("fixture: %d image conversations, ids %v…, %d soft tokens", len(msgs), want[:min(len(want), 3)], softTokens)
	}
	want = want[1:] // one <bos>
	m := &Model{Tokenizer: tok}
	crops := []int{softTokens/DefaultImageTokens - 1} // the original image, then its crops
	got, err := m.ImagePrompt(msgs, crops)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ids differ:\ngot  %v\nwant %v", compress(got), compress(want))
	}
}

// compress writes runs of one id as id×n, for readable failures.
func compress(ids []int) []string {
	var out []string
	for i := 0; i < len(ids); {
		j := i
		for j < len(ids) && ids[j] == ids[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%d×%d", ids[i], j-i))
		} else {
			out = append(out, fmt.Sprint(ids[i]))
		}
		i = j
	}
	return out
}

package gemma3

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/greedy-270m.json from this engine's output")

func TestRealConfig(t *testing.T) {
	m := realModel(t)
	c := m.Config
	if c.Hidden != 640 || c.Layers != 18 || c.Heads != 4 || c.KVHeads != 1 || c.HeadDim != 256 ||
		c.SlidingWindow != 512 || c.Vocab != 262144 || c.QueryPreAttnScalar != 256 || c.RopeGlobal.Factor != 1 {
		t.Fatalf("unexpected 270M config %+v", c)
	}
	for i, k := range c.Kinds {
		if want := (i+1)%6 == 0; (k == Global) != want {
			t.Errorf("layer %d kind %s", i, k)
		}
	}
	if c.EmbedScale != 25.25 { // bf16(sqrt(640)) (GEMMA3.md §5)
		t.Errorf("embed scale %g, want 25.25", c.EmbedScale)
	}
}

// TestRealTokenizer checks that the vocabulary stored in the GGUF file
// tokenizes the shared transformers cases exactly like tokenizer.json does.
func TestRealTokenizer(t *testing.T) {
	m := realModel(t)
	raw, err := os.ReadFile(filepath.Join("..", "tokenizer", "testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Text    string `json:"text"`
			IDs     []int  `json:"ids"`
			Decoded string `json:"decoded"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	pass := 0
	for i, c := range f.Cases {
		got := m.Tokenizer.Encode(c.Text, true)
		if !slices.Equal(got, c.IDs) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
			continue
		}
		pass++
	}
	t.Logf("%d/%d cases identical", pass, len(f.Cases))
}

// greedyPrompts are completed for 32 tokens; the expected text is this
// engine's own output, kept so any change in numerics shows up.
var greedyPrompts = []string{
	"The capital of France is",
	"Water boils at a temperature of",
	"Once upon a time, in a small village,",
}

func TestRealGreedy(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	m := realModel(t)
	path := filepath.Join("testdata", "greedy-270m.json")
	want := map[string]string{}
	if !*update {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	s, err := m.NewSession(Options{Ctx: 128})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range greedyPrompts {
		s.Reset()
		ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode(p, false)...)
		var out []int
		_, err := s.Generate(context.Background(), ids, GenerateOptions{MaxTokens: 32, OnToken: func(id int) error {
			out = append(out, id)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		got[p] = m.Tokenizer.Decode(out)
		t.Logf("%q -> %q", p, got[p])
		if !*update && got[p] != want[p] {
			t.Errorf("%q:\n got %q\nwant %q", p, got[p], want[p])
		}
		if words := strings.Fields(got[p]); len(words) < 5 {
			t.Errorf("%q: continuation %q is not a sentence", p, got[p])
		}
	}
	if *update {
		raw, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

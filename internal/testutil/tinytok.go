package testutil

import (
	"encoding/json"
	"testing"
)

// TinyImageIDs are the ids of the image tokens in a tiny vocabulary; a
// zero id leaves that token out (a text-only vocabulary).
type TinyImageIDs struct {
	BOI, EOI, Soft int
}

// VLMTinyImageIDs are the image token ids of the vlm-tiny fixture
// (gemma3/testdata/vlm-tiny: boi 1000, eoi 1001, image soft token 1002).
var VLMTinyImageIDs = TinyImageIDs{BOI: 1000, EOI: 1001, Soft: 1002}

// TinyTokenizerJSON returns a Hugging Face tokenizer.json of exactly vocab
// ids for the tiny random-weight test models, which ship none. The control
// tokens sit at Gemma's ids (<pad> 0, <eos> 1, <bos> 2, <unk> 3, <mask> 4,
// <start_of_turn> 105, <end_of_turn> 106), the newline runs "\n", "\n\n",
// "\n\n\n" at 107–109, the image tokens where img says; every other id is
// one character ("▁", then printable ASCII, then CJK ideographs) and there
// are no merges, so text encodes character by character and any id
// sequence decodes to text that encodes back to it.
func TinyTokenizerJSON(t testing.TB, vocab int, img TinyImageIDs) []byte {
	t.Helper()
	type added struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	}
	var toks []added
	taken := map[int]bool{}
	add := func(id int, s string, special bool) {
		if id <= 0 && s != "<pad>" {
			return
		}
		if id >= vocab || taken[id] {
			t.Fatalf("testutil: tiny tokenizer: id %d for %q", id, s)
		}
		taken[id] = true
		toks = append(toks, added{id, s, special})
	}
	for id, s := range []string{"<pad>", "<eos>", "<bos>", "<unk>", "<mask>"} {
		add(id, s, true)
	}
	add(105, "<start_of_turn>", true)
	add(106, "<end_of_turn>", true)
	add(107, "\n", false)
	add(108, "\n\n", false)
	add(109, "\n\n\n", false)
	add(img.BOI, "<start_of_image>", true)
	add(img.EOI, "<end_of_image>", true)
	add(img.Soft, "<image_soft_token>", true)
	pieces := map[string]int{}
	for _, a := range toks {
		pieces[a.Content] = a.ID
	}
	next := func() func() string {
		chars := []rune{'▁'}
		for r := '!'; r <= '~'; r++ {
			chars = append(chars, r)
		}
		i := 0
		return func() string {
			if i < len(chars) {
				i++
				return string(chars[i-1])
			}
			i++
			return string(rune(0x4E00 + i - len(chars) - 1))
		}
	}()
	for id := range vocab {
		if !taken[id] {
			pieces[next()] = id
		}
	}
	data, err := json.Marshal(map[string]any{
		"version":      "1.0",
		"added_tokens": toks,
		"normalizer":   nil,
		"model": map[string]any{
			"type":          "BPE",
			"unk_token":     "<unk>",
			"byte_fallback": false,
			"vocab":         pieces,
			"merges":        []string{},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

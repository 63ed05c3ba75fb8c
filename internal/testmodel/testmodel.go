// Package testmodel gives tests and examples a small model that can chat:
// the text-tiny Hugging Face fixture (gemma3/testdata/text-tiny: random
// weights, vocabulary 1024, sliding window 6) or any synthetic shape, with
// a made-up tokenizer of the model's vocabulary size. The tokenizer has the
// Gemma special pieces at their Gemma ids (<pad> 0, <eos> 1, <bos> 2,
// <unk> 3, <start_of_turn> 105, <end_of_turn> 106) and one single-character
// piece per remaining id (printable ASCII, "▁", "\n", then letters from
// U+00C0 on), with no multi-character pieces: every text piece decodes to
// one character and that character encodes back to the same id.
package testmodel

import (
	"fmt"
	"path/filepath"
	"runtime"
	"unicode"

	"gemmavk/gemma3"
	"gemmavk/tokenizer"
)

// TextTinyDir is the directory of the text-tiny fixture.
func TextTinyDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "gemma3", "testdata", "text-tiny")
}

// TextTiny loads the text-tiny fixture and gives it a Tokenizer.
func TextTiny() (*gemma3.Model, error) {
	m, err := gemma3.Load(TextTinyDir())
	if err != nil {
		return nil, err
	}
	if m.Tokenizer, err = Tokenizer(m.Config.Vocab); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Synthetic builds gemma3.Synthetic(size, encoding, seed) and gives it a
// Tokenizer (for throughput measurements through the chat paths).
func Synthetic(size, encoding string, seed uint64) (*gemma3.Model, error) {
	m, err := gemma3.Synthetic(size, encoding, seed)
	if err != nil {
		return nil, err
	}
	if m.Tokenizer, err = Tokenizer(m.Config.Vocab); err != nil {
		return nil, err
	}
	return m, nil
}

// Tokenizer returns the made-up tokenizer of n pieces (n ≥ 256).
func Tokenizer(n int) (*tokenizer.Tokenizer, error) {
	if n < 256 {
		return nil, fmt.Errorf("testmodel: vocabulary of %d: want at least 256", n)
	}
	v := tokenizer.Vocab{
		Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]tokenizer.TokenType, n),
		BOS: 2, EOS: 1, UNK: 3, PAD: 0,
	}
	special := map[int]string{0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>",
		105: tokenizer.StartOfTurn, 106: tokenizer.EndOfTurn}
	var chars []rune
	for r := rune(0x21); r < 0x7f; r++ {
		chars = append(chars, r)
	}
	chars = append(chars, '▁', '\n')
	next := rune(0xC0)
	for id := range n {
		if s, ok := special[id]; ok {
			v.Tokens[id], v.Types[id] = s, tokenizer.TypeControl
			if id == 3 {
				v.Types[id] = tokenizer.TypeUnknown
			}
			continue
		}
		var r rune
		if len(chars) > 0 {
			r, chars = chars[0], chars[1:]
		} else {
			for !unicode.IsLetter(next) {
				next++
			}
			r = next
			next++
		}
		v.Tokens[id], v.Types[id] = string(r), tokenizer.TypeNormal
		v.Scores[id] = float32(-id)
	}
	return tokenizer.New(v)
}

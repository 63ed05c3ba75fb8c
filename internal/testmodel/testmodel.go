// Package testmodel gives tests and examples a small model that can chat:
// the text-tiny Hugging Face fixture (gemma3/testdata/text-tiny: random
// weights, vocabulary 1024, sliding window 6) or any synthetic shape, with
// a made-up tokenizer of the model's vocabulary size. The tokenizer has the
// Gemma special pieces at their Gemma ids (<pad> 0, <eos> 1, <bos> 2,
// <unk> 3, <start_of_turn> 105, <end_of_turn> 106) and one piece per
// remaining id: printable ASCII, "▁", "\n", then CJK ideographs, then (past
// 21,000 ids, for the real vocabulary size) pairs of them. Every text piece
// decodes to a string that encodes back to the same id.
package testmodel

import (
	"fmt"
	"path/filepath"
	"runtime"

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
	// Past ASCII: single CJK ideographs of the unified block (stable under
	// Unicode normalization, unlike many letters), then pairs of them.
	const cjk, cjkLen = 0x4E00, 0x5200
	extra := 0
	for id := range n {
		if s, ok := special[id]; ok {
			v.Tokens[id], v.Types[id] = s, tokenizer.TypeControl
			if id == 3 {
				v.Types[id] = tokenizer.TypeUnknown
			}
			continue
		}
		var piece string
		switch {
		case len(chars) > 0:
			piece, chars = string(chars[0]), chars[1:]
		case extra < cjkLen:
			piece = string(rune(cjk + extra))
			extra++
		default:
			k := extra - cjkLen
			piece = string([]rune{rune(cjk + k/cjkLen), rune(cjk + k%cjkLen)})
			extra++
		}
		v.Tokens[id], v.Types[id] = piece, tokenizer.TypeNormal
		v.Scores[id] = float32(-id)
	}
	return tokenizer.New(v)
}

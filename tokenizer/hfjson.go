package tokenizer

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// hfFile is the part of a Hugging Face tokenizer.json that is used.
type hfFile struct {
	addedTokens  []hfAddedToken
	normalizer   []byte // raw JSON
	modelType    string
	unkToken     string // "" when absent or null
	byteFallback bool
	vocab        []hfPiece
	merges       []byte // raw JSON of model.merges, resolved after the vocabulary
}

type hfAddedToken struct {
	id      int
	content string
	special bool
}

type hfPiece struct {
	text string
	id   int
}

// parseHFFile scans tokenizer.json for the fields in hfFile.
func parseHFFile(data []byte) (*hfFile, error) {
	f := &hfFile{}
	s := &jsonScanner{data: data}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "added_tokens":
			err = s.array(func(int) error {
				var a hfAddedToken
				err := s.object(func(key []byte) error {
					var err error
					switch string(key) {
					case "id":
						a.id, err = s.integer()
					case "content":
						a.content, err = s.str()
					case "special":
						a.special, err = s.boolean()
					default:
						_, err = s.skip()
					}
					return err
				})
				f.addedTokens = append(f.addedTokens, a)
				return err
			})
		case "normalizer":
			f.normalizer, err = s.skip()
		case "model":
			err = s.object(func(key []byte) error {
				var err error
				switch string(key) {
				case "type":
					f.modelType, err = s.str()
				case "unk_token":
					if !s.literal("null") {
						f.unkToken, err = s.str()
					}
				case "byte_fallback":
					if !s.literal("null") {
						f.byteFallback, err = s.boolean()
					}
				case "vocab":
					if s.peek() != '{' {
						return s.errorf("model.vocab is not an object (a Unigram model?)")
					}
					err = s.object(func(key []byte) error {
						p := hfPiece{text: string(key)}
						var err error
						p.id, err = s.integer()
						f.vocab = append(f.vocab, p)
						return err
					})
				case "merges":
					f.merges, err = s.skip()
				default:
					_, err = s.skip()
				}
				return err
			})
		default:
			_, err = s.skip()
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	return f, err
}

// LoadHFJSON reads a Hugging Face tokenizer.json file; see FromHFJSON. A
// missing file gives an error that matches os.ErrNotExist.
func LoadHFJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromHFJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// FromHFJSON builds a tokenizer from the contents of a Hugging Face
// tokenizer.json holding a SentencePiece-derived BPE model (Gemma's).
//
// The vocabulary is built the way llama.cpp's converter builds a GGUF one
// (FORMATS.md §4.1), so that ids, pieces and types agree with the GGUF file:
// model.vocab gives the ordinary pieces, "<0xHH>" pieces are TypeByte, and
// every added token overrides its slot: special ones, and non-special ones
// that look special (<pad>, <mask>, <unused…>, <|…|>), become TypeControl;
// the others become TypeUserDefined with "▁" rewritten to a space (so the
// whitespace pieces "▁▁"… read "  "…, as in the GGUF file; in the text they
// are still matched with Hugging Face's spelling, i.e. against literal "▁"
// runs, while typed spaces reach the merges). Added tokens beyond model.vocab
// (Gemma's <image_soft_token>, id 262144) extend the vocabulary; holes are
// filled with unused "[PAD<id>]" pieces. BOS, EOS and PAD are the ids of
// <bos>, <eos> and <pad> (-1 if absent) and UNK is model.unk_token.
// AddSpacePrefix is set when the normalizer prepends "▁".
//
// tokenizer.json has merge rules instead of piece scores. The Vocab's scores
// are derived from them (a piece formed by merging scores minus the rank of
// its first merge rule; every other piece -Inf, meaning never formed by
// merging), and the tokenizer merges by rule rank, a lower rank first and
// ties to the leftmost pair, which is exactly Hugging Face's BPE. (Gemma's
// merge list is ordered by SentencePiece score, so this equals llama.cpp's
// score-driven merge except when two different splits of one piece compete
// for overlapping symbols.)
func FromHFJSON(data []byte) (*Tokenizer, error) {
	f, err := parseHFFile(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.modelType != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q not supported (want BPE)", f.modelType)
	}
	if len(f.vocab) == 0 {
		return nil, fmt.Errorf("tokenizer.json: %w", ErrEmptyVocab)
	}

	n := 0
	for _, p := range f.vocab {
		if p.id < 0 || p.id >= math.MaxInt32 {
			return nil, fmt.Errorf("tokenizer.json: piece %q has id %d", p.text, p.id)
		}
		n = max(n, p.id+1)
	}
	for _, a := range f.addedTokens {
		if a.id < 0 || a.id >= math.MaxInt32 {
			return nil, fmt.Errorf("tokenizer.json: added token %q has id %d", a.content, a.id)
		}
		n = max(n, a.id+1)
	}
	if limit := len(f.vocab) + len(f.addedTokens) + 1<<16; n > limit {
		return nil, fmt.Errorf("tokenizer.json: largest id %d is far beyond the %d pieces", n-1, len(f.vocab)+len(f.addedTokens))
	}
	v := Vocab{
		Tokens: make([]string, n),
		Scores: make([]float32, n),
		Types:  make([]TokenType, n),
		BOS:    -1, EOS: -1, UNK: -1, PAD: -1,
	}
	// modelText is the model's own spelling of each id, used to resolve the
	// merge rules; v.Tokens differs where an added token respells it.
	modelText := make([]string, n)
	filled := make([]bool, n)
	for _, p := range f.vocab {
		if filled[p.id] {
			return nil, fmt.Errorf("tokenizer.json: pieces %q and %q share id %d", modelText[p.id], p.text, p.id)
		}
		filled[p.id] = true
		modelText[p.id] = p.text
		v.Tokens[p.id] = p.text
		v.Types[p.id] = TypeNormal
		if f.byteFallback && isUpperBytePiece(p.text) {
			v.Types[p.id] = TypeByte
		}
		if f.unkToken != "" && p.text == f.unkToken {
			v.UNK = p.id
			v.Types[p.id] = TypeUnknown
		}
	}
	for _, a := range f.addedTokens {
		filled[a.id] = true
		if a.special || looksSpecial(a.content) {
			v.Types[a.id] = TypeControl
			v.Tokens[a.id] = a.content
		} else {
			v.Types[a.id] = TypeUserDefined
			v.Tokens[a.id] = strings.ReplaceAll(a.content, spaceMark, " ")
		}
		switch a.content {
		case "<bos>":
			v.BOS = a.id
		case "<eos>":
			v.EOS = a.id
		case "<pad>":
			v.PAD = a.id
		}
	}
	for id := range v.Tokens {
		if !filled[id] {
			v.Tokens[id] = "[PAD" + strconv.Itoa(id) + "]"
			v.Types[id] = TypeUnused
		}
	}
	for i := range v.Scores {
		v.Scores[i] = float32(math.Inf(-1))
	}
	v.AddSpacePrefix = bytes.Contains(f.normalizer, []byte(`"Prepend"`))

	// The merge rules name pieces by the model's spelling; most ids keep it.
	respelled := make(map[string]int32)
	for id, p := range modelText {
		if p != "" && p != v.Tokens[id] {
			respelled[p] = int32(id)
		}
	}
	lookup := func(ids map[string]int32, b []byte) (int32, bool) {
		id, ok := ids[string(b)]
		if ok && modelText[id] == string(b) {
			return id, true
		}
		// Respelled, or not a model piece (an added token beyond model.vocab).
		id, ok = respelled[string(b)]
		return id, ok
	}

	// New validates the vocabulary and builds the piece map used to resolve
	// the rules; the scores are filled in before anyone can use them.
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	// Added tokens are matched in the raw text with their own spelling
	// (Gemma's whitespace pieces are non-normalized "▁▁"…, which match
	// literal U+2581 runs, while typed spaces reach the merges as "▁").
	matchText := slices.Clone(t.pieces)
	for _, a := range f.addedTokens {
		matchText[a.id] = a.content
	}
	t.special = newSpecialMatcher(matchText, t.types)

	t.merges = make(map[uint64]mergeRule, 1<<19)
	err = scanHFMerges(f.merges, func(rank int, pair []byte, split int) error {
		l, okl := lookup(t.ids, pair[:split])
		r, okr := lookup(t.ids, pair[split:])
		res, okres := lookup(t.ids, pair)
		if !okl || !okr || !okres {
			return fmt.Errorf("merge %d (%q %q) uses a piece missing from the vocabulary", rank, pair[:split], pair[split:])
		}
		key := pairKey(l, r)
		if _, dup := t.merges[key]; dup {
			return nil // a repeated rule never applies after the first
		}
		t.merges[key] = mergeRule{rank: int32(rank), result: res}
		if math.IsInf(float64(t.scores[res]), -1) {
			t.scores[res] = -float32(rank)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: model.merges: %w", err)
	}
	return t, nil
}

// isUpperBytePiece reports whether p is "<0xHH>" with upper-case hex digits.
func isUpperBytePiece(p string) bool {
	if _, ok := parseBytePiece(p); !ok {
		return false
	}
	return strings.ToUpper(p[3:5]) == p[3:5]
}

// looksSpecial reports whether a non-special added token should still be a
// control piece, following llama.cpp's converter (Gemma marks <mask> and
// <unusedN> as not special).
func looksSpecial(s string) bool {
	switch {
	case s == "<pad>" || s == "<mask>":
		return true
	case strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>"):
		return true
	case strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"):
		return true
	}
	return false
}

// scanHFMerges calls rule for each merge rule of model.merges, in rank order,
// with the two pieces concatenated in pair and split at byte offset split.
// Both formats are accepted: [["a", "b"], …] and ["a b", …] (older files).
// pair is only valid during the call.
func scanHFMerges(raw []byte, rule func(rank int, pair []byte, split int) error) error {
	s := &jsonScanner{data: raw}
	if s.peek() == 0 || s.literal("null") {
		return s.end()
	}
	var buf []byte
	err := s.array(func(rank int) error {
		var err error
		buf = buf[:0]
		split := 0
		if s.peek() == '[' {
			err = s.array(func(i int) error {
				if i > 1 {
					return s.errorf("merge rule with more than two pieces")
				}
				var err error
				buf, err = s.appendString(buf)
				if i == 0 {
					split = len(buf)
				}
				return err
			})
		} else {
			buf, err = s.appendString(buf)
			split = bytes.IndexByte(buf, ' ')
			if err == nil && split < 0 {
				err = s.errorf("merge rule %q is not two pieces separated by a space", buf)
			}
			if err == nil {
				buf = append(buf[:split], buf[split+1:]...)
			}
		}
		if err != nil {
			return err
		}
		return rule(rank, buf, split)
	})
	if err != nil {
		return err
	}
	return s.end()
}

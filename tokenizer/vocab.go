package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// TokenType is the llama.cpp token type of a vocabulary entry (the values
// stored in GGUF tokenizer.ggml.token_type).
type TokenType int32

// Token types, numbered as in llama.cpp's llama_token_type.
const (
	TypeUndefined   TokenType = 0 // no type given; decoded like TypeNormal
	TypeNormal      TokenType = 1 // ordinary piece; "▁" decodes to a space
	TypeUnknown     TokenType = 2 // the unknown piece
	TypeControl     TokenType = 3 // control piece such as <bos> or <start_of_turn>
	TypeUserDefined TokenType = 4 // user-defined piece, always matched as a whole and decoded verbatim
	TypeUnused      TokenType = 5 // unused slot; never matched, decodes to nothing
	TypeByte        TokenType = 6 // byte-fallback piece <0xHH>
)

// String returns the llama.cpp name of the type.
func (t TokenType) String() string {
	switch t {
	case TypeUndefined:
		return "UNDEFINED"
	case TypeNormal:
		return "NORMAL"
	case TypeUnknown:
		return "UNKNOWN"
	case TypeControl:
		return "CONTROL"
	case TypeUserDefined:
		return "USER_DEFINED"
	case TypeUnused:
		return "UNUSED"
	case TypeByte:
		return "BYTE"
	}
	return "TokenType(" + strconv.Itoa(int(t)) + ")"
}

// Vocab is a SentencePiece-style vocabulary: entry i has text Tokens[i],
// score Scores[i] and type Types[i]. Pieces use "▁" (U+2581) for spaces, as
// in GGUF files. A higher score makes a merge happen earlier; a score of
// -Inf marks a piece that merging never forms (it can still be matched as a
// special piece or be a single-character symbol).
type Vocab struct {
	Tokens []string    // piece text per id
	Scores []float32   // SentencePiece piece scores per id
	Types  []TokenType // llama.cpp token types per id

	BOS, EOS, UNK, PAD int // special ids; -1 when absent

	// AddSpacePrefix prepends a space to the first raw fragment and to every
	// raw fragment that follows a special piece, and strips it again when
	// decoding (llama.cpp's add_space_prefix). False for Gemma.
	AddSpacePrefix bool
}

// Tokenizer encodes text to token ids and decodes ids back to text. It is
// immutable after construction and safe for concurrent use.
type Tokenizer struct {
	pieces         []string
	scores         []float32
	types          []TokenType
	bos, eos, unk  int
	pad            int
	addSpacePrefix bool

	ids     map[string]int32 // piece text → id
	byteIDs [256]int32       // byte-fallback id per byte value, -1 if none
	ascii   [128]int32       // id of each one-byte piece, -1 if none
	special specialMatcher   // control / unknown / user-defined pieces

	// merges, when non-nil, switches the merge priority from piece scores to
	// BPE merge-rule ranks (tokenizer.json models); see FromHFJSON.
	merges map[uint64]mergeRule
}

// mergeRule is one BPE merge rule: merging the pair gives result; a lower
// rank merges first.
type mergeRule struct {
	rank   int32
	result int32
}

// ErrEmptyVocab is returned by New for a vocabulary without entries.
var ErrEmptyVocab = errors.New("tokenizer: empty vocabulary")

// New validates a vocabulary and builds the lookup tables used to encode and
// decode. Tokens, Scores and Types must have the same length; a duplicate
// piece or a NaN score is an error, and special ids must be -1 or in range.
// As in llama.cpp, an empty piece is renamed "[EMPTY_<id>]". The Vocab's
// slices are copied, so the caller may reuse them.
func New(v Vocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, ErrEmptyVocab
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("tokenizer: %d tokens do not fit in int32 ids", n)
	}
	if len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	if len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	t := &Tokenizer{
		pieces:         make([]string, n),
		scores:         make([]float32, n),
		types:          make([]TokenType, n),
		addSpacePrefix: v.AddSpacePrefix,
		ids:            make(map[string]int32, n),
	}
	copy(t.pieces, v.Tokens)
	copy(t.scores, v.Scores)
	copy(t.types, v.Types)
	for _, sp := range []struct {
		name string
		id   int
		dst  *int
	}{{"BOS", v.BOS, &t.bos}, {"EOS", v.EOS, &t.eos}, {"UNK", v.UNK, &t.unk}, {"PAD", v.PAD, &t.pad}} {
		if sp.id < -1 || sp.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d outside the vocabulary of %d tokens", sp.name, sp.id, n)
		}
		*sp.dst = sp.id
	}
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
	for i, p := range t.pieces {
		if p == "" {
			p = "[EMPTY_" + strconv.Itoa(i) + "]"
			t.pieces[i] = p
		}
		if prev, dup := t.ids[p]; dup {
			return nil, fmt.Errorf("tokenizer: duplicate piece %q at ids %d and %d", p, prev, i)
		}
		t.ids[p] = int32(i)
		if math.IsNaN(float64(t.scores[i])) {
			return nil, fmt.Errorf("tokenizer: score of piece %d (%q) is NaN", i, p)
		}
		if t.types[i] < TypeUndefined || t.types[i] > TypeByte {
			return nil, fmt.Errorf("tokenizer: piece %d (%q) has unknown type %d", i, p, t.types[i])
		}
		if t.types[i] == TypeByte {
			b, ok := parseBytePiece(p)
			if !ok {
				return nil, fmt.Errorf("tokenizer: byte piece %d has text %q, want <0xHH>", i, p)
			}
			t.byteIDs[b] = int32(i)
		}
	}
	// llama.cpp's byte_to_token falls back to a piece whose text is the raw
	// single byte when no <0xHH> piece exists.
	for b := range t.byteIDs {
		if t.byteIDs[b] < 0 {
			if id, ok := t.ids[string([]byte{byte(b)})]; ok {
				t.byteIDs[b] = id
			}
		}
	}
	for c := range t.ascii {
		t.ascii[c] = -1
		if id, ok := t.ids[string(rune(c))]; ok {
			t.ascii[c] = id
		}
	}
	t.special = newSpecialMatcher(t.pieces, t.types)
	return t, nil
}

// parseBytePiece parses "<0xHH>" (either hex case).
func parseBytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(p[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

// Len returns the number of entries in the vocabulary.
func (t *Tokenizer) Len() int { return len(t.pieces) }

// Piece returns the text of token id as stored in the vocabulary ("▁" for
// spaces in ordinary pieces), or "" when id is out of range.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// ID returns the id of the piece with exactly this text.
func (t *Tokenizer) ID(piece string) (int, bool) {
	id, ok := t.ids[piece]
	return int(id), ok
}

// Type returns the type of token id, or TypeUndefined when id is out of range.
func (t *Tokenizer) Type(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// Score returns the score of token id, or 0 when id is out of range.
func (t *Tokenizer) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// UNK returns the unknown-piece id, or -1.
func (t *Tokenizer) UNK() int { return t.unk }

// PAD returns the padding id, or -1.
func (t *Tokenizer) PAD() int { return t.pad }

// AddSpacePrefix reports whether the vocabulary uses llama.cpp's
// add_space_prefix rule (false for Gemma).
func (t *Tokenizer) AddSpacePrefix() bool { return t.addSpacePrefix }

// Vocab returns a copy of the tokenizer's vocabulary. For a tokenizer built
// by FromHFJSON it holds the scores derived from the merge rules; New on it
// gives a score-driven tokenizer like one built from the GGUF vocabulary.
func (t *Tokenizer) Vocab() Vocab {
	return Vocab{
		Tokens:         slices.Clone(t.pieces),
		Scores:         slices.Clone(t.scores),
		Types:          slices.Clone(t.types),
		BOS:            t.bos,
		EOS:            t.eos,
		UNK:            t.unk,
		PAD:            t.pad,
		AddSpacePrefix: t.addSpacePrefix,
	}
}

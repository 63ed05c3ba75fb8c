package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// gemmaPath is the real Gemma 3 tokenizer.json fetched by `make models`.
func gemmaPath() string {
	dir := os.Getenv("GEMMAVK_CACHE")
	if dir == "" {
		dir = filepath.Join("..", ".cache")
	}
	return filepath.Join(dir, "tokenizer", "tokenizer.json")
}

type loaded struct {
	tok  *Tokenizer
	took time.Duration
	err  error
}

// gemmaOnce loads the real tokenizer once for all tests.
var gemmaOnce = sync.OnceValue(func() loaded {
	start := time.Now()
	tok, err := LoadHFJSON(gemmaPath())
	return loaded{tok, time.Since(start), err}
})

// gemma returns the real Gemma 3 tokenizer, skipping the test when the asset
// is missing (failing instead under GEMMAVK_REQUIRE_ASSETS=1).
func gemma(tb testing.TB) *Tokenizer {
	tb.Helper()
	l := gemmaOnce()
	if l.err != nil {
		if errors.Is(l.err, os.ErrNotExist) && os.Getenv("GEMMAVK_REQUIRE_ASSETS") != "1" {
			tb.Skipf("%s missing; run `make models` to fetch the Gemma 3 tokenizer", gemmaPath())
		}
		tb.Fatalf("loading the Gemma 3 tokenizer: %v", l.err)
	}
	return l.tok
}

type tokCase struct {
	Text    string `json:"text"`
	IDs     []int  `json:"ids"`
	Decoded string `json:"decoded"`
}

func readCases(tb testing.TB, name string) []tokCase {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Cases []tokCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return f.Cases
}

// withoutControl is the fixture's decoded text (HF renders control pieces)
// with the text of the control pieces among ids removed, which is what
// Decode (llama.cpp convention) gives.
func withoutControl(tok *Tokenizer, ids []int, decoded string) string {
	for _, id := range ids {
		if tok.Type(id) == TypeControl {
			decoded = strings.Replace(decoded, tok.Piece(id), "", 1)
		}
	}
	return decoded
}

func TestLoadGemma(t *testing.T) {
	tok := gemma(t)
	t.Logf("loaded %s in %v", gemmaPath(), gemmaOnce().took)
	if tok.Len() != 262145 {
		t.Errorf("Len = %d, want 262145 (262144 pieces + <image_soft_token>)", tok.Len())
	}
	if tok.BOS() != 2 || tok.EOS() != 1 || tok.UNK() != 3 || tok.PAD() != 0 || tok.AddSpacePrefix() {
		t.Errorf("BOS %d EOS %d UNK %d PAD %d AddSpacePrefix %v, want 2 1 3 0 false",
			tok.BOS(), tok.EOS(), tok.UNK(), tok.PAD(), tok.AddSpacePrefix())
	}
	for _, c := range []struct {
		id    int
		piece string
		ty    TokenType
	}{
		{0, "<pad>", TypeControl}, {1, "<eos>", TypeControl}, {2, "<bos>", TypeControl},
		{3, "<unk>", TypeControl}, {4, "<mask>", TypeControl}, {5, "[multimodal]", TypeUserDefined},
		{6, "<unused0>", TypeControl}, {105, "<start_of_turn>", TypeControl}, {106, "<end_of_turn>", TypeControl},
		{107, "\n", TypeUserDefined}, {108, "\n\n", TypeUserDefined}, {138, "  ", TypeUserDefined},
		{238, "<0x00>", TypeByte}, {248, "<0x0A>", TypeByte}, {493, "<0xFF>", TypeByte},
		{494, "▁t", TypeNormal}, {2364, "user", TypeNormal}, {4368, "model", TypeNormal},
		{255968, "\t", TypeUserDefined}, {255999, "<start_of_image>", TypeControl},
		{256000, "<end_of_image>", TypeControl}, {262143, "<unused6241>", TypeControl},
		{262144, "<image_soft_token>", TypeControl},
	} {
		if p, ty := tok.Piece(c.id), tok.Type(c.id); p != c.piece || ty != c.ty {
			t.Errorf("id %d: piece %q type %v, want %q %v", c.id, p, ty, c.piece, c.ty)
		}
		if id, ok := tok.ID(c.piece); !ok || id != c.id {
			t.Errorf("ID(%q) = %d, %v, want %d", c.piece, id, ok, c.id)
		}
	}
	// Scores derived from the merge ranks: ordinary pieces in id order.
	if s1, s2 := tok.Score(494), tok.Score(495); !(s1 > s2) {
		t.Errorf("scores of ids 494, 495 = %v, %v; want decreasing", s1, s2)
	}
}

// TestGemmaCases reproduces every case of the shared HF fixture.
func TestGemmaCases(t *testing.T) {
	tok := gemma(t)
	cases := readCases(t, "cases.json")
	if len(cases) != 55 {
		t.Fatalf("cases.json has %d cases, want 55", len(cases))
	}
	pass := 0
	for i, c := range cases {
		ok := true
		if got := tok.Encode(c.Text, true); !slices.Equal(got, c.IDs) {
			t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
			ok = false
		}
		// The fixture's decoded text renders control pieces (HF decode
		// without skip_special_tokens): that is DecodeSpecial. Decode drops
		// them, as llama.cpp does.
		if got := tok.DecodeSpecial(c.IDs); got != c.Decoded {
			t.Errorf("case %d: DecodeSpecial = %q, want %q", i, got, c.Decoded)
			ok = false
		}
		if got, want := tok.Decode(c.IDs), withoutControl(tok, c.IDs, c.Decoded); got != want {
			t.Errorf("case %d: Decode = %q, want %q", i, got, want)
			ok = false
		}
		if ok {
			pass++
		}
	}
	t.Logf("%d/%d cases reproduced", pass, len(cases))
	// Spot-check the Decode convention on the control-token cases.
	if got := tok.Decode(tok.Encode("<bos>text after bos", true)); got != "text after bos" {
		t.Errorf("Decode drops <bos>: got %q", got)
	}
}

// TestGemmaFuzzCorpus compares with 2702 texts encoded by HF tokenizers.
func TestGemmaFuzzCorpus(t *testing.T) {
	tok := gemma(t)
	cases := readCases(t, "hf_fuzz.json")
	bad := 0
	for i, c := range cases {
		got := tok.Encode(c.Text, true)
		dec := tok.DecodeSpecial(c.IDs)
		if slices.Equal(got, c.IDs) && dec == c.Decoded {
			continue
		}
		if bad++; bad <= 10 {
			t.Errorf("case %d %q:\n got  %v\n want %v\n decoded %q, want %q", i, c.Text, got, c.IDs, dec, c.Decoded)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d cases differ", bad, len(cases))
	}
}

// TestGemmaScoreMode checks the score-driven merge (the path a GGUF
// vocabulary takes) on the vocabulary with scores derived from the merge
// ranks: it reproduces every fixture case.
func TestGemmaScoreMode(t *testing.T) {
	st, err := New(gemma(t).Vocab())
	if err != nil {
		t.Fatal(err)
	}
	if st.merges != nil {
		t.Fatal("New kept merge rules")
	}
	for i, c := range readCases(t, "cases.json") {
		if got := st.Encode(c.Text, true); !slices.Equal(got, c.IDs) {
			t.Errorf("case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
		}
	}
	// The fuzz corpus too, except texts with a literal "▁": there HF matches
	// its "▁▁"… added tokens against the raw text, while a GGUF vocabulary
	// holds them as spaces (llama.cpp's converter), so the two differ.
	for i, c := range readCases(t, "hf_fuzz.json") {
		if strings.Contains(c.Text, spaceMark) {
			continue
		}
		if got := st.Encode(c.Text, true); !slices.Equal(got, c.IDs) {
			t.Errorf("fuzz case %d %q:\n got  %v\n want %v", i, c.Text, got, c.IDs)
		}
	}
}

func TestGemmaParseSpecial(t *testing.T) {
	tok := gemma(t)
	const text = "<start_of_turn>user\nHi<end_of_turn>"
	if got, want := tok.Encode(text, true), []int{105, 2364, 107, 10979, 106}; !slices.Equal(got, want) {
		t.Errorf("parseSpecial: %v, want %v", got, want)
	}
	got := tok.Encode(text, false)
	if slices.Contains(got, 105) || slices.Contains(got, 106) {
		t.Errorf("without parseSpecial control pieces must not match: %v", got)
	}
	if !slices.Contains(got, 107) {
		t.Errorf("user-defined \\n must still match without parseSpecial: %v", got)
	}
	if d := tok.Decode(got); d != text {
		t.Errorf("Decode(Encode(text, false)) = %q, want %q", d, text)
	}
}

func TestGemmaLiteralSpaceMark(t *testing.T) {
	tok := gemma(t)
	// HF: typed spaces and a literal "▁" merge into one whitespace piece.
	if got, want := tok.Encode("x  \u2581e", true), []int{236781, 139, 236744}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestGemmaRoundTrip: DecodeSpecial inverts Encode(…, true) for valid UTF-8
// (literal "▁" comes back as a space).
func TestGemmaRoundTrip(t *testing.T) {
	tok := gemma(t)
	for _, c := range readCases(t, "hf_fuzz.json") {
		want := strings.ReplaceAll(c.Text, spaceMark, " ")
		if got := tok.DecodeSpecial(tok.Encode(c.Text, true)); got != want {
			t.Errorf("round trip of %q gave %q", c.Text, got)
		}
	}
}

func TestGemmaConcurrent(t *testing.T) {
	tok := gemma(t)
	cases := readCases(t, "cases.json")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range cases {
				c := cases[(i+g*7)%len(cases)]
				if got := tok.Encode(c.Text, true); !slices.Equal(got, c.IDs) {
					t.Errorf("goroutine %d: %q differs", g, c.Text)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzGemmaEncode(f *testing.F) {
	tok := gemma(f)
	for _, c := range readCases(f, "cases.json") {
		f.Add(c.Text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, true)
		for _, id := range ids {
			if id < 0 || id >= tok.Len() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if !utf8.ValidString(s) {
			_ = tok.Decode(ids)
			return
		}
		if got, want := tok.DecodeSpecial(ids), strings.ReplaceAll(s, spaceMark, " "); got != want {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// toyVocab is a small score-driven vocabulary for tests without assets.
func toyVocab() Vocab {
	v := Vocab{BOS: 1, EOS: 2, UNK: 3, PAD: 0}
	add := func(p string, s float32, ty TokenType) {
		v.Tokens = append(v.Tokens, p)
		v.Scores = append(v.Scores, s)
		v.Types = append(v.Types, ty)
	}
	add("<pad>", 0, TypeControl)
	add("<bos>", 0, TypeControl)
	add("<eos>", 0, TypeControl)
	add("<unk>", 0, TypeUnknown)
	add("<ctl>", 0, TypeControl)
	add("<ud>", 0, TypeUserDefined)
	add("<ud>x", 0, TypeUserDefined) // longer user-defined piece sharing a prefix
	add("<unused0>", 0, TypeUnused)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, TypeByte)
	}
	for _, c := range []string{"a", "b", "c", "x", "▁", "<", ">", "d", "l", "t", "u"} {
		add(c, -100, TypeNormal)
	}
	add("ab", -1, TypeNormal)   // tie with "ba"
	add("ba", -1, TypeNormal)   //
	add("bc", -0.5, TypeNormal) // beats "ab"
	add("▁a", -2, TypeNormal)
	add("▁ab", -3, TypeNormal)
	add("cc", float32(math.Inf(-1)), TypeNormal) // never formed by merging
	return v
}

func toy(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := New(toyVocab())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pieces(tok *Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tok.Piece(id)
	}
	return out
}

func TestToyMerge(t *testing.T) {
	tok := toy(t)
	for _, c := range []struct {
		text string
		want []string
	}{
		{"aba", []string{"ab", "a"}},             // equal scores: leftmost pair first
		{"bab", []string{"ba", "b"}},             //
		{"abc", []string{"a", "bc"}},             // higher score first
		{" ab", []string{"▁ab"}},                 // space → ▁, chained merges
		{"a b", []string{"a", "▁", "b"}},         // "▁b" is not a piece
		{"cc", []string{"c", "c"}},               // -Inf score: never merged
		{"é", []string{"<0xC3>", "<0xA9>"}},      // byte fallback, upper-case hex
		{"a\xffb", []string{"a", "<0xFF>", "b"}}, // invalid UTF-8 byte
		{"<ud>x<ud>", []string{"<ud>x", "<ud>"}}, // user-defined, longest match
		{"a<ctl>b", []string{"a", "<ctl>", "b"}}, // control with parseSpecial
		{"<unused0>", []string{"<", "u", "<0x6E>", "u", "<0x73>", "<0x65>", "d", "<0x30>", ">"}}, // unused never matched
		{"", nil},
	} {
		got := pieces(tok, tok.Encode(c.text, true))
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("Encode(%q) = %q, want %q", c.text, got, c.want)
		}
	}
	if got, want := pieces(tok, tok.Encode("a<ctl>", false)), []string{"a", "<", "c", "t", "l", ">"}; !slices.Equal(got, want) {
		t.Errorf("without parseSpecial: %q, want %q", got, want)
	}
	if got, want := pieces(tok, tok.Encode("<ud>", false)), []string{"<ud>"}; !slices.Equal(got, want) {
		t.Errorf("user-defined without parseSpecial: %q, want %q", got, want)
	}
}

func TestToyDecode(t *testing.T) {
	tok := toy(t)
	id := func(p string) int {
		i, ok := tok.ID(p)
		if !ok {
			t.Fatalf("no piece %q", p)
		}
		return i
	}
	ids := []int{id("<bos>"), id("▁ab"), id("<ctl>"), id("<ud>"), id("<unused0>"), id("<unk>"), id("<0xC3>"), id("<0xA9>"), -5, 1 << 30}
	if got, want := tok.Decode(ids), " ab<ud>é"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	if got, want := tok.DecodeSpecial(ids), "<bos> ab<ctl><ud><unused0><unk>é"; got != want {
		t.Errorf("DecodeSpecial = %q, want %q", got, want)
	}
	// Invalid byte sequences: one U+FFFD per byte.
	if got, want := tok.Decode([]int{id("<0xC3>"), id("a"), id("<0xFF>")}), "\uFFFDa\uFFFD"; got != want {
		t.Errorf("Decode of invalid bytes = %q, want %q", got, want)
	}
}

func TestToySpacePrefix(t *testing.T) {
	v := toyVocab()
	v.AddSpacePrefix = true
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	got := pieces(tok, tok.Encode("ab<ctl>a", true))
	if want := []string{"▁ab", "<ctl>", "▁a"}; !slices.Equal(got, want) {
		t.Errorf("Encode = %q, want %q", got, want)
	}
	if d := tok.Decode(tok.Encode("ab a", true)); d != "ab a" {
		t.Errorf("Decode strips the prefix space: got %q", d)
	}
}

func TestNewErrors(t *testing.T) {
	base := toyVocab()
	for _, c := range []struct {
		name   string
		modify func(v *Vocab)
		want   string
	}{
		{"empty", func(v *Vocab) { *v = Vocab{} }, "empty vocabulary"},
		{"duplicate", func(v *Vocab) { v.Tokens[10] = "<ctl>" }, "duplicate piece"},
		{"scores", func(v *Vocab) { v.Scores = v.Scores[:3] }, "scores"},
		{"types", func(v *Vocab) { v.Types = v.Types[1:] }, "token types"},
		{"bos", func(v *Vocab) { v.BOS = len(v.Tokens) }, "BOS id"},
		{"nan", func(v *Vocab) { v.Scores[5] = float32(math.NaN()) }, "NaN"},
		{"type", func(v *Vocab) { v.Types[5] = 9 }, "unknown type"},
		{"byte", func(v *Vocab) { v.Types[0] = TypeByte }, "byte piece"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := base
			v.Tokens = slices.Clone(base.Tokens)
			v.Scores = slices.Clone(base.Scores)
			v.Types = slices.Clone(base.Types)
			c.modify(&v)
			_, err := New(v)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := New(Vocab{}); !errors.Is(err, ErrEmptyVocab) {
		t.Errorf("empty vocabulary: %v, want ErrEmptyVocab", err)
	}
}

func TestNewEmptyPiece(t *testing.T) {
	v := toyVocab()
	v.Tokens[7] = ""
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Piece(7); got != "[EMPTY_7]" {
		t.Errorf("empty piece renamed to %q", got)
	}
}

func TestFromHFJSONSmall(t *testing.T) {
	const doc = `{
	  "version": "1.0",
	  "added_tokens": [
	    {"id": 0, "content": "<pad>", "special": true},
	    {"id": 1, "content": "<eos>", "special": true},
	    {"id": 2, "content": "<bos>", "special": true},
	    {"id": 3, "content": "<unk>", "special": true},
	    {"id": 4, "content": "<unused0>", "special": false},
	    {"id": 5, "content": "\u2581\u2581", "special": false},
	    {"id": 12, "content": "<extra>", "special": true}
	  ],
	  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
	  "model": {
	    "type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "dropout": null,
	    "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<unused0>": 4, "\u2581\u2581": 5,
	              "<0x41>": 6, "a": 7, "b": 8, "\u2581": 9, "ab": 10},
	    "merges": [["\u2581", "\u2581"], ["a", "b"]]
	  }
	}`
	tok, err := FromHFJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Len() != 13 || tok.Piece(11) != "[PAD11]" || tok.Type(11) != TypeUnused {
		t.Errorf("Len %d, piece 11 %q %v; want 13 and an unused [PAD11]", tok.Len(), tok.Piece(11), tok.Type(11))
	}
	for id, want := range map[int]TokenType{0: TypeControl, 3: TypeControl, 4: TypeControl, 5: TypeUserDefined, 6: TypeByte, 7: TypeNormal, 12: TypeControl} {
		if got := tok.Type(id); got != want {
			t.Errorf("Type(%d) = %v, want %v", id, got, want)
		}
	}
	if tok.Piece(5) != "  " {
		t.Errorf("user-defined ▁▁ should read as two spaces, got %q", tok.Piece(5))
	}
	if got, want := tok.Encode("ab  a<extra>", true), []int{10, 5, 7, 12}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got, want := tok.Encode("A", true), []int{6}; !slices.Equal(got, want) {
		t.Errorf("byte fallback: %v, want %v", got, want)
	}
	if s := tok.Score(10); s != -1 {
		t.Errorf("score of ab = %v, want -1 (rank 1)", s)
	}

	// The older merges format.
	old := strings.Replace(doc, `[["\u2581", "\u2581"], ["a", "b"]]`, `["\u2581 \u2581", "a b"]`, 1)
	tok2, err := FromHFJSON([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok2.Encode("ab  a", true); !slices.Equal(got, []int{10, 5, 7}) {
		t.Errorf("string merges: %v", got)
	}
}

func TestFromHFJSONErrors(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"syntax", `{"model": {"type": "BPE", "vocab": {"a": 0}`, "json offset"},
		{"trailing", `{"model": {"type": "BPE", "vocab": {"a": 0}}} x`, "trailing"},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`, "Unigram"},
		{"empty", `{"model": {"type": "BPE", "vocab": {}}}`, "empty vocabulary"},
		{"merge", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}}`, "missing from the vocabulary"},
		{"shared id", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}}`, "share id"},
		{"escape", `{"model": {"type": "BPE", "vocab": {"\x": 0}}}`, "invalid escape"},
		{"sparse", `{"model": {"type": "BPE", "vocab": {"a": 100000000}}}`, "far beyond"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromHFJSON([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	_, err := LoadHFJSON(filepath.Join(t.TempDir(), "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestJSONStringEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`"plain"`:        "plain",
		`"a\nb\t\"\\\/"`: "a\nb\t\"\\/",
		`"\u00e9\u2581"`: "é▁",
		`"\ud83d\ude00"`: "😀",
		`"\ud83d x"`:     "\uFFFD x",
		`"\ud83d\u0041"`: "\uFFFDA",
		`"\b\f\r"`:       "\b\f\r",
	} {
		s := &jsonScanner{data: []byte(in)}
		got, err := s.str()
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
}

// benchText is about 10 KB of the fixture texts (multilingual, code, emoji).
func benchText(tb testing.TB) string {
	var sb strings.Builder
	for sb.Len() < 10<<10 {
		for _, c := range readCases(tb, "cases.json") {
			sb.WriteString(c.Text)
			sb.WriteString("\n")
		}
	}
	return strings.ToValidUTF8(sb.String()[:10<<10], "")
}

func BenchmarkEncode(b *testing.B) {
	tok := gemma(b)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}

func BenchmarkEncodeScoreMode(b *testing.B) {
	tok, err := New(gemma(b).Vocab())
	if err != nil {
		b.Fatal(err)
	}
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := gemma(b)
	ids := tok.Encode(benchText(b), true)
	for b.Loop() {
		tok.Decode(ids)
	}
}

func BenchmarkLoadHFJSON(b *testing.B) {
	gemma(b)
	data, err := os.ReadFile(gemmaPath())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := FromHFJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

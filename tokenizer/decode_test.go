package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// streamAll pushes ids one at a time and checks that every chunk is valid
// UTF-8; it returns the chunks (the last one from Flush).
func streamAll(t *testing.T, d *StreamDecoder, ids []int) []string {
	t.Helper()
	var chunks []string
	for _, id := range ids {
		s := d.Push(id)
		if !utf8.ValidString(s) {
			t.Fatalf("Push(%d) returned invalid UTF-8 %q", id, s)
		}
		chunks = append(chunks, s)
	}
	s := d.Flush()
	if !utf8.ValidString(s) {
		t.Fatalf("Flush returned invalid UTF-8 %q", s)
	}
	return append(chunks, s)
}

func TestStreamDecoderGemma(t *testing.T) {
	tok := gemma(t)
	cases := readCases(t, "cases.json")
	// Besides the fixture (whose rare-CJK case uses byte pieces), texts whose
	// characters are missing from the vocabulary: 3- and 4-byte sequences.
	for _, s := range []string{"𓀀𓀁 hieroglyphs", "ꙮ and 𐌰𐌱 Gothic", "日本語 𠀋 text 😀", "𝔘𝔫𝔦"} {
		cases = append(cases, tokCase{Text: s, IDs: tok.Encode(s, true)})
	}
	byteCases := 0
	for _, c := range cases {
		hasBytes := false
		for _, id := range c.IDs {
			hasBytes = hasBytes || tok.Type(id) == TypeByte
		}
		if hasBytes {
			byteCases++
		}
		if c.Decoded == "" && tok.Decode(c.IDs) != c.Text {
			t.Errorf("Decode(Encode(%q)) = %q", c.Text, tok.Decode(c.IDs))
		}
		for _, special := range []bool{false, true} {
			d, want := tok.NewStreamDecoder(), tok.Decode(c.IDs)
			if special {
				d, want = tok.NewStreamDecoderSpecial(), tok.DecodeSpecial(c.IDs)
			}
			chunks := streamAll(t, d, c.IDs)
			if got := strings.Join(chunks, ""); got != want {
				t.Errorf("%q (special %v): stream gave %q, Decode %q", c.Text, special, got, want)
			}
			if hasBytes && chunks[len(chunks)-1] != "" {
				t.Errorf("%q: complete text left %q for Flush", c.Text, chunks[len(chunks)-1])
			}
		}
	}
	if byteCases < 5 {
		t.Errorf("only %d fixture cases use byte pieces; the test needs them", byteCases)
	}

	// 𠜎 is four byte pieces: nothing comes out until the last one.
	ids := tok.Encode("𠜎", true)
	if len(ids) != 4 {
		t.Fatalf("𠜎 encodes to %v, want 4 byte pieces", ids)
	}
	d := tok.NewStreamDecoder()
	for i, id := range ids {
		got := d.Push(id)
		if want := map[bool]string{true: "𠜎", false: ""}[i == 3]; got != want {
			t.Errorf("byte %d: Push = %q, want %q", i, got, want)
		}
	}
}

func TestStreamDecoderToy(t *testing.T) {
	tok := toy(t)
	id := func(p string) int {
		i, ok := tok.ID(p)
		if !ok {
			t.Fatalf("no piece %q", p)
		}
		return i
	}
	for _, c := range []struct {
		name   string
		pieces []string
		chunks []string
	}{
		{"complete", []string{"<0xC3>", "<0xA9>", "a"}, []string{"", "é", "a", ""}},
		{"interrupted", []string{"<0xE2>", "<0x82>", "a"}, []string{"", "", "\uFFFD\uFFFDa", ""}},
		{"invalid lead", []string{"<0xFF>", "b"}, []string{"\uFFFD", "b", ""}},
		{"truncated at end", []string{"a", "<0xF0>", "<0x9F>"}, []string{"a", "", "", "\uFFFD\uFFFD"}},
		{"control hidden", []string{"<bos>", "▁ab", "<ctl>"}, []string{"", " ab", "", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids := make([]int, len(c.pieces))
			for i, p := range c.pieces {
				ids[i] = id(p)
			}
			got := streamAll(t, tok.NewStreamDecoder(), ids)
			if strings.Join(got, "|") != strings.Join(c.chunks, "|") {
				t.Errorf("chunks %q, want %q", got, c.chunks)
			}
			if all, want := strings.Join(got, ""), tok.Decode(ids); all != want {
				t.Errorf("stream %q != Decode %q", all, want)
			}
		})
	}
	// Flush resets: a decoder can be reused.
	d := tok.NewStreamDecoder()
	d.Push(id("<0xC3>"))
	d.Flush()
	if got := d.Push(id("a")); got != "a" {
		t.Errorf("after Flush, Push = %q", got)
	}
}

func TestStreamDecoderSpacePrefix(t *testing.T) {
	v := toyVocab()
	v.AddSpacePrefix = true
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("ab a", true)
	got := strings.Join(streamAll(t, tok.NewStreamDecoder(), ids), "")
	if got != "ab a" || got != tok.Decode(ids) {
		t.Errorf("stream %q, Decode %q, want %q", got, tok.Decode(ids), "ab a")
	}
}

package testmodel

import "testing"

// TestTokenizerRoundTrip checks the property the package promises: every
// text piece decodes to a string that encodes back to its id, and the
// chat markers are single special tokens.
func TestTokenizerRoundTrip(t *testing.T) {
	tok, err := Tokenizer(1024)
	if err != nil {
		t.Fatal(err)
	}
	for id := 4; id < 1024; id++ {
		if id == 105 || id == 106 {
			continue
		}
		s := tok.Decode([]int{id})
		if got := tok.Encode(s, false); len(got) != 1 || got[0] != id {
			t.Fatalf("id %d decodes to %q, which encodes to %v", id, s, got)
		}
	}
	ids := tok.Encode("<start_of_turn>user\nhi<end_of_turn>", true)
	if ids[0] != 105 || ids[len(ids)-1] != 106 {
		t.Fatalf("chat markers not matched as special tokens: %v", ids)
	}
}

// TestTokenizerFullVocab builds the tokenizer at the real models' vocabulary
// size (synthetic 270M–27B models use it): every piece distinct, and a
// sample of ids past the single characters still round-trips.
func TestTokenizerFullVocab(t *testing.T) {
	const n = 262144
	tok, err := Tokenizer(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{200, 21000, 30000, 136151, n - 1} {
		s := tok.Decode([]int{id})
		if got := tok.Encode(s, false); len(got) != 1 || got[0] != id {
			t.Errorf("id %d decodes to %q, which encodes to %v", id, s, got)
		}
	}
}

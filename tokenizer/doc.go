// Package tokenizer implements the Gemma 3 SentencePiece tokenizer and the
// Gemma chat template.
//
// A Tokenizer is built either from a SentencePiece-style vocabulary (pieces,
// scores and llama.cpp token types, as stored in a GGUF file's
// tokenizer.ggml.* keys) through New, or from a Hugging Face tokenizer.json
// through FromHFJSON / LoadHFJSON. Encoding follows llama.cpp's SPM
// tokenizer (docs/FORMATS.md §4.4): special and user-defined pieces written
// in the text are split out first (leftmost-longest match), every ASCII space
// of the remaining raw fragments becomes U+2581 "▁" (no other normalisation),
// and each fragment is encoded by repeatedly merging the best adjacent pair
// of symbols, starting from single UTF-8 characters; characters missing from
// the vocabulary fall back to <0xHH> byte pieces. The pair priority is the
// merged piece's score for a score-based vocabulary (GGUF). For a
// tokenizer.json BPE model it is the rank of the (left, right) merge rule,
// which reproduces Hugging Face tokenizers exactly, including the rare cases
// where two different splits of the same piece compete.
//
// Encode never adds <bos>: the Gemma chat template (RenderChat) already
// starts with it, and a raw prompt gets it from the caller. Decode follows
// llama.cpp's detokenizer (FORMATS.md §4.5); StreamDecoder does the same one
// token at a time without ever emitting a partial UTF-8 sequence.
package tokenizer

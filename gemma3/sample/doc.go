// Package sample turns a row of next-token logits into a token id.
//
// A [Sampler] applies a fixed chain modelled on llama.cpp's default one:
// repetition penalty over a window of recent tokens, then (when the
// temperature is <= 0) a greedy argmax, otherwise top-k, a softmax with
// temperature computed in float64, min-p, top-p (nucleus), renormalisation
// and a draw from the sampler's own seeded PCG generator. Ids at or above
// [Config.ExcludeFrom] are masked out so padding and image rows of the Gemma 3
// vocabulary are never produced, NaN logits count as -Inf, and the caller's
// logits are never modified. Top-k uses a bounded heap; top-p first keeps only
// the candidates that can reach the nucleus, then finds it with a weighted
// quickselect instead of a full sort, so a step over a 262144-entry
// vocabulary costs a few linear passes. A Sampler is not safe for concurrent
// use.
package sample

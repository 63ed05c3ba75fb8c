// Package gemma3 defines the Gemma 3 text decoder once, as a graph built with
// package graph (GEMMA3.md §1–§4), and everything around it: configuration
// from GGUF metadata or HF config.json, the weight table for both tensor
// layouts, the KV cache, chunked prefill, decoding and generation.
//
// It imports graph, kernels, tokenizer and the file-format packages; it
// knows nothing of devices or the command line.
package gemma3

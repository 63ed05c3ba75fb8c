// Package siglip defines the SigLIP vision encoder of Gemma 3 and its
// multimodal projector (GEMMA3.md §6.1, §6.2) once, as a graph built with
// package graph, so that the CPU and Vulkan executors both run it; and
// everything around it: the configuration from an HF config.json or the
// clip.* keys of a llama.cpp mmproj GGUF, the weight table for both tensor
// layouts, and a writer of mmproj files.
//
// An image enters as normalized pixels [channels, size, size] (package
// siglip/imageproc makes them) and leaves as one row of the text model's
// width per image token ([TokensPerImage, TextHidden]), ready to be spliced
// into the text stream (GEMMA3.md §6.3).
//
// It imports graph, kernels, gpu (to run on a device) and the file-format
// packages; it knows nothing of the text model or the command line.
package siglip

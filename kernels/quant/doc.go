// Package quant owns the ggml tensor element types as they are stored in GGUF
// files: their ids and block geometry (types.go), the byte layout of every
// supported block, and the CPU routines that read and write those blocks.
//
// It provides
//   - IEEE half and bfloat16 conversions (F16ToF32, F32ToF16, BF16ToF32,
//     F32ToBF16);
//   - dequantization of whole tensors or rows (Dequantize, DequantizeRow) for
//     the plain float types, the 32-element "legacy" blocks, the 256-element
//     K-quant super-blocks and IQ4_NL / IQ4_XS;
//   - quantization (Quantize) that reproduces llama.cpp's reference
//     quantizers, the ones llama-quantize uses without an importance matrix;
//   - DotRow, the fused dot product of one encoded weight row with an f32
//     vector, the inner loop of the CPU matrix-vector product, and DotF32
//     for two f32 vectors. Both use one canonical float32 arithmetic (dot.go)
//     with bit-identical portable and, under GOEXPERIMENT=simd on amd64,
//     AVX2/AVX-512 implementations.
//
// The layouts follow FORMATS.md §2 (shared docs), which is the spec this
// package is tested against; values are bit-identical to ggml's reference
// dequantizers and to gguf-py. The package imports nothing of the project and
// keeps no mutable global state: its tables are constant.
package quant

// Package kernels is the op catalogue: for every operation the Gemma 3 graph
// uses, a shape check and a plain CPU reference implementation (simple loops,
// f32 data, wide accumulation where it is cheap). The references are the
// specification the graph executors are tested against; the CPU executor in
// package graph calls them directly, splitting work across cores through the
// row ranges each function takes.
//
// Weights stay in their file encoding (package kernels/quant) and are decoded
// a block at a time. kernels imports only kernels/quant and the standard
// library; it knows nothing of models or devices.
package kernels

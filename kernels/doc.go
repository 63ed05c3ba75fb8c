// Package kernels is the op catalogue: for every operation the Gemma 3 graph
// uses, a shape check and a plain CPU reference implementation (simple loops,
// f32 data, wide accumulation where it is cheap). The references are the
// specification the graph executors are tested against; the CPU executor in
// package graph calls them directly, splitting work across cores through the
// row ranges each function takes.
//
// Beside each reference sits its Vulkan lowering, a function <Op>Vk that
// returns a gpu.Dispatch: which shader variant, its specialization and push
// constants and its group counts, with the buffer bindings in its doc
// comment. Lowerings are data; package gpu records them. Parity tests run
// every lowering against its reference.
//
// Weights stay in their file encoding (package kernels/quant) and are decoded
// a block at a time; on the GPU in their device layout (Weight.DeviceData:
// the file encoding, but for Q6_K blocks padded to 224 bytes and Q4_0
// blocks regrouped in 8s, so that their pieces load as 16-byte words). kernels imports kernels/quant, gpu (for the Dispatch and
// Caps types) and the standard library; it knows nothing of models.
package kernels

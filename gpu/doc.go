// Package gpu is the Vulkan runtime: it loads the Vulkan loader at run time,
// creates the instance and device, records what the device can do (Caps),
// sub-allocates device memory, creates compute pipelines from the embedded
// SPIR-V of package shaders, prepares descriptor sets, records command buffers
// and replays them, and reads timestamp queries.
//
// gpu knows nothing of models or ops: it imports neither kernels nor graph and
// holds no per-op state. Barriers are placed by the caller, which knows which
// dispatch wrote what; gpu adds none of its own.
//
// Builds never need Vulkan. On a machine without libvulkan.so.1 or without a
// device, NewInstance and Open return an error wrapping ErrNoDevice and callers
// fall back to the CPU executor.
package gpu

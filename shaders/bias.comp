#version 450
// Bias add over the rows of a matrix (the biased linear layers of SigLIP,
// GEMMA3.md §6.1), as kernels.AddBias:
//
//   add_bias_f32   y[r][j] = x[r][j] + b[j]
//
// Bindings: 0 x f32 [R, N] (readonly); 1 b f32 [N] (readonly);
//           2 y f32 [R, N] (may be the buffer of x).
// Push: R*N, N.  Spec: 0 workgroup size.
// Mapping: one invocation per element i < R*N over a 2D grid,
// i = (group.y * groups.x + group.x) * wgsize + local; element i reads
// b[i % N]. Each element is read, then written, by one invocation.
//! variant add_bias_f32

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint total;
    uint n;
} pc;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    if (i >= pc.total) {
        return;
    }
    y[i] = x[i] + b[i % pc.n];
}

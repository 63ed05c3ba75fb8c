#version 450
// Copy: y[i] = x[i] over n 16-byte vectors. It measures the device's copy
// bandwidth, the ceiling for the bandwidth-bound kernels beside it.
//
// Bindings: 0 x uvec4 [n] (readonly); 1 y uvec4 [n].
// Push: n.  Spec: 0 workgroup size.
// Mapping: a grid-stride loop over vectors.
//! variant copy_u32x4

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { uvec4 x[]; };
layout(binding = 1) writeonly buffer Y { uvec4 y[]; };

layout(push_constant) uniform Push {
    uint n;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
        y[i] = x[i];
    }
}

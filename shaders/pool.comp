#version 450
// Average pooling of the Gemma 3 projector (GEMMA3.md §6.2), k x k with
// stride k over a grid x grid patch grid, as kernels.AvgPool:
//   y[R*G' + C][ch] = (sum_{dr, dc < k} x[(kR+dr)*grid + kC+dc][ch]) * inv,
// G' = grid/k, the sum in f32 over dr then dc, inv = 1/float(k*k) from the
// host (a product, correctly rounded, where a division would not be), so
// the result matches the reference bit for bit.
//
// Bindings: 0 x f32 [grid*grid, c] (token n = row*grid + col);
//           1 y f32 [G'*G', c].
// Push: grid, k, c, inv.  Spec: 0 workgroup size.
// Mapping: one invocation per output value i = m*c + ch over a 2D grid
// (i = (group.y * groups.x + group.x) * wgsize + local); neighbouring
// invocations read neighbouring channels.
//! variant avgpool_f32

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint grid;
    uint k;
    uint c;
    float inv;
} pc;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    uint g = pc.grid / pc.k;
    if (i >= g * g * pc.c) {
        return;
    }
    uint m = i / pc.c;
    uint ch = i - m * pc.c;
    uint r0 = (m / g) * pc.k;
    uint c0 = (m % g) * pc.k;
    float s = 0.0;
    for (uint dr = 0; dr < pc.k; dr++) {
        uint base = ((r0 + dr) * pc.grid + c0) * pc.c + ch;
        for (uint dc = 0; dc < pc.k; dc++) {
            s += x[base + dc * pc.c];
        }
    }
    y[i] = s * pc.inv;
}

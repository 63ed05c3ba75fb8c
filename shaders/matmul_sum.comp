#version 450
// Sum of the K runs of a split product (matmul_coop with kparts > 1):
//
//	y[t*ldy + r] = sum_p parts[p*T*rows + t*rows + r]   p = 0 .. kparts-1
//
// in a fixed order, so the result does not depend on scheduling.
//
// Bindings: 0 parts f32 [kparts, T, rows] (readonly); 1 y f32 [T, ldy].
// Push: T, rows, ldy, kparts.  Spec: 0 workgroup size.
// Mapping: one invocation per (t, r), element i = t*rows + r with
// i = (group.y * groups.x + group.x) * wgsize + local.
//! variant matmul_sum

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Parts { float parts[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint T;
    uint rows;
    uint ldy;
    uint kparts;
} pc;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint n = pc.T * pc.rows;
    if (i >= n) {
        return;
    }
    float s = 0.0;
    for (uint p = 0u; p < pc.kparts; p++) {
        s += parts[p * n + i];
    }
    uint t = i / pc.rows;
    y[t * pc.ldy + (i - t * pc.rows)] = s;
}

#version 450
// Softmax over rows, numerically stable, f32, as kernels.Softmax:
//   m = max_j x[r][j],  y[r][j] = exp(x[r][j] - m) / sum_k exp(x[r][k] - m)
//
// Bindings: 0 x f32 [R, N] (readonly); 1 y f32 [R, N] (may be x).
// Push: R, N.  Spec: 0 workgroup size.
// Mapping: one workgroup per row (row = group.y * groups.x + group.x, so R
// may pass 65535); invocations stride the row: a workgroup max, a
// workgroup sum of the exponentials, then a pass writing y (the
// exponentials are recomputed rather than stored, so y may be x).
//! variant softmax_f32
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint n;
} pc;

#include "reduce.glsl"

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.rows) {
        return;
    }
    uint base = row * pc.n;
    float m = uintBitsToFloat(0xff800000u); // -inf
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        m = max(m, x[base + j]);
    }
    m = workgroup_max(m);
    float s = 0.0;
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        s += exp(x[base + j] - m);
    }
    float inv = 1.0 / workgroup_sum(s);
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        y[base + j] = exp(x[base + j] - m) * inv;
    }
}

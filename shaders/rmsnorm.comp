#version 450
// RMSNorm, Gemma form (GEMMA3.md §1.2), with the gain g = 1 + w folded at
// load:  y[r][j] = x[r][j] * inversesqrt(mean_j(x[r][j]^2) + eps) * g[j]
//
// Bindings: 0 x f32 [R, N] (readonly); 1 g f32 [N]; 2 y f32 [R, N] (may be x).
// Push: R, N, eps.  Spec: 0 workgroup size.
// Mapping: one workgroup per row (row = group.y * groups.x + group.x, so R
// may pass the 65535 limit of one dimension); invocations stride the
// row, then a workgroup sum. Rows of q/k heads (R = T*heads, N = head dim)
// use the same kernel.
// OUT_F16 (rmsnorm_f32_h): y is stored as f16 pairs packed in uint words
// [R, N/2] (low half first, clamped to the f16 range: the input of a
// product on cooperative matrices, which would round it so anyway); N even,
// and y must not be x. Invocations then stride the pairs of the row.
//! variant rmsnorm_f32
//! variant rmsnorm_f32_h OUT_F16
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer G { float g[]; };
#ifdef OUT_F16
layout(binding = 2) writeonly buffer Y { uint yh[]; };
const float F16_MAX = 65504.0;
#else
layout(binding = 2) buffer Y { float y[]; };
#endif

layout(push_constant) uniform Push {
    uint rows;
    uint n;
    float eps;
} pc;

#include "reduce.glsl"

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.rows) {
        return;
    }
    uint base = row * pc.n;
    float ss = 0.0;
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        float v = x[base + j];
        ss += v * v;
    }
    ss = workgroup_sum(ss);
    float inv = inversesqrt(ss / float(pc.n) + pc.eps);
#ifdef OUT_F16
    for (uint u = gl_LocalInvocationID.x; u < pc.n / 2u; u += gl_WorkGroupSize.x) {
        uint j = 2u * u;
        vec2 v = vec2(x[base + j] * inv * g[j], x[base + j + 1u] * inv * g[j + 1u]);
        yh[base / 2u + u] = packHalf2x16(clamp(v, -F16_MAX, F16_MAX));
    }
#else
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        y[base + j] = x[base + j] * inv * g[j];
    }
#endif
}

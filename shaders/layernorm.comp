#version 450
// LayerNorm with weight and bias (SigLIP, GEMMA3.md §6.1), population
// variance, as kernels.LayerNorm:
//   mean = sum_j x[r][j] / N,  var = sum_j (x[r][j] - mean)^2 / N
//   y[r][j] = (x[r][j] - mean) * inversesqrt(var + eps) * w[j] + b[j]
//
// Bindings: 0 x f32 [R, N] (readonly); 1 w f32 [N]; 2 b f32 [N];
//           3 y f32 [R, N] (may be x).
// Push: R, N, eps.  Spec: 0 workgroup size.
// Mapping: one workgroup per row (row = group.y * groups.x + group.x, so R
// may pass 65535); invocations stride the row. Two passes in f32, each
// ending in a workgroup sum: the mean, then the squared deviations (no
// cancellation from a large mean), then a third pass writes y. When y is
// x, x0 is read by all before anyone writes (the sums' barriers order it).
//! variant layernorm_f32
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer W { float w[]; };
layout(binding = 2) readonly buffer B { float b[]; };
layout(binding = 3) buffer Y { float y[]; };

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
    // Sums run on x - x0, x0 the row's first value: for a row whose spread
    // is small next to its mean, x - x0 is exact and the mean's rounding
    // error shrinks with the spread instead of with |mean|.
    float x0 = x[base];
    float s = 0.0;
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        s += x[base + j] - x0;
    }
    float mean = workgroup_sum(s) / float(pc.n); // of x - x0
    float ss = 0.0;
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        float d = (x[base + j] - x0) - mean;
        ss += d * d;
    }
    float inv = inversesqrt(workgroup_sum(ss) / float(pc.n) + pc.eps);
    for (uint j = gl_LocalInvocationID.x; j < pc.n; j += gl_WorkGroupSize.x) {
        y[base + j] = ((x[base + j] - x0) - mean) * inv * w[j] + b[j];
    }
}

#version 450
// Residual add after a post-norm, then the next pre-norm (Gemma 3 layer
// seams, GEMMA3.md §1.2; gains hold 1 + w), per row r of N values:
//
//	xnew[r] = x[r] + o[r] * inversesqrt(mean(o[r]^2) + eps) * g1
//	f[r]    = xnew[r] * inversesqrt(mean(xnew[r]^2) + eps) * g2   (SECOND)
//
// Bindings: 0 o f32 [R, N] (readonly); 1 x f32 [R, N] (readonly); 2 g1 f32
// [N]; 3 g2 f32 [N]; 4 xnew f32 [R, N] (may be x); 5 f f32 [R, N]. With
// SECOND = 0 bindings 3 and 5 are not accessed (any buffers may be bound
// there) and f is not written.
// OUT_F16 (addnorm_f32_h, always SECOND): f is stored as f16 pairs packed
// in uint words [R, N/2] (low half first, clamped to the f16 range, for a
// product on cooperative matrices that would round it so anyway); N even.
// Push: R, N, eps.  Spec: 0 workgroup size; 1 SECOND (0 or 1).
// Mapping: one workgroup per row (row = group.y * groups.x + group.x, so R
// may pass the 65535 limit of one dimension). Invocation i takes elements
// j = i, i + wgsize, ... in every pass: the sum of o^2 (workgroup sum),
// then xnew[j] = x[j] + ... with its square summed (second workgroup sum),
// then f[j] from xnew[j] read back. Each element of x, xnew and f is read
// and written by that one invocation only, x[j] before xnew[j], so xnew
// may be bound to x (in-place residual). With OUT_F16 an invocation takes
// the pairs of elements 2u, 2u+1 with u = i, i + wgsize, ... instead.
//! variant addnorm_f32
//! variant addnorm_f32_h OUT_F16
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint SECOND = 1;

layout(binding = 0) readonly buffer O { float o[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) readonly buffer G1 { float g1[]; };
layout(binding = 3) readonly buffer G2 { float g2[]; };
layout(binding = 4) buffer XN { float xnew[]; };
#ifdef OUT_F16
layout(binding = 5) writeonly buffer F { uint fh[]; };
const uint U = 2u; // elements an invocation takes together
const float F16_MAX = 65504.0;
#else
layout(binding = 5) writeonly buffer F { float f[]; };
const uint U = 1u;
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
    uint i0 = gl_LocalInvocationID.x;
    uint step = gl_WorkGroupSize.x;
    uint nu = pc.n / U;
    float ss = 0.0;
    for (uint u = i0; u < nu; u += step) {
        [[unroll]] for (uint k = 0u; k < U; k++) {
            float v = o[base + u * U + k];
            ss += v * v;
        }
    }
    ss = workgroup_sum(ss);
    float inv = inversesqrt(ss / float(pc.n) + pc.eps);
    float ss2 = 0.0;
    for (uint u = i0; u < nu; u += step) {
        [[unroll]] for (uint k = 0u; k < U; k++) {
            uint j = u * U + k;
            float v = x[base + j] + o[base + j] * inv * g1[j];
            xnew[base + j] = v;
            ss2 += v * v;
        }
    }
    if (SECOND != 0u) {
        ss2 = workgroup_sum(ss2);
        float inv2 = inversesqrt(ss2 / float(pc.n) + pc.eps);
        for (uint u = i0; u < nu; u += step) {
#ifdef OUT_F16
            uint j = u * 2u;
            vec2 v = vec2(xnew[base + j] * inv2 * g2[j], xnew[base + j + 1u] * inv2 * g2[j + 1u]);
            fh[base / 2u + u] = packHalf2x16(clamp(v, -F16_MAX, F16_MAX));
#else
            f[base + u] = xnew[base + u] * inv2 * g2[u];
#endif
        }
    }
}

#version 450
// RMSNorm of each q or k head followed by RoPE, in one pass (GEMMA3.md
// §1.2, §2), as the CPU reference kernels.RMSNormRoPE = kernels.RMSNorm
// then kernels.RoPE: for token t, head h, row r = t*heads + h of D values,
//   s       = inversesqrt(mean_j(x[r][j]^2) + eps)
//   n[j]    = x[r][j] * s * g[j]                     (g already 1 + w)
//   theta_j = float(p) * inv[j]                      (include/rope.glsl)
//   y[r][j]      = n[j] cos theta_j - n[j+half] sin theta_j     (j < half)
//   y[r][j+half] = n[j+half] cos theta_j + n[j] sin theta_j
// with p = pos[t]; with CACHE p = pos[0] + t, and the rotated keys y and
// the values v of the row are also written to the ring caches at row
// (pos[0] + t) % Slots, as cache_write.comp does (the decode k path: q/k
// norm, RoPE and cache write in one dispatch).
//
// Bindings: 0 x f32 [T, heads*D] readonly (k with CACHE);
//           1 g f32 [D] readonly; 2 pos int32 [T] readonly ([>= 1] with
//           CACHE: only pos[0] is read); 3 inv f32 [D/2] readonly
//           (kernels.RoPEInvFreq); 4 y f32 [T, heads*D] (may be x: every
//           invocation reads its own pairs before writing them);
//           CACHE only: 5 v f32 [T, heads*D] readonly; 6 ck, 7 cv caches
//           [Slots, heads*D]: f16 pairs packed in uint words (low half
//           first, round to nearest even, packHalf2x16), or f32 with
//           CACHE_F32.
// Push: T, heads, eps, Slots (Slots read by CACHE only).
// Spec: 0 workgroup size, 1 D (even).
// Mapping: one workgroup per row r = group.y * groups.x + group.x (so
// T*heads may pass 65535); invocation i takes the pairs j = i, i + WG, …
// below half: a workgroup sum of squares, then each invocation normalizes
// and rotates its pairs. With CACHE the row's workgroup alone writes its
// head's D keys and D values in the cache row; when the chunk is longer
// than the ring, only the last token of each cache row writes it (no two
// workgroups write one word, and the result is the sequential one). The
// f16 keys pass through shared memory so that adjacent values pack into
// one word.
//! variant normrope_f32
//! variant normrope_cache_f16 CACHE
//! variant normrope_cache_f32 CACHE CACHE_F32
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 256;
const uint HALF = D / 2;

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer G { float g[]; };
layout(binding = 2) readonly buffer Pos { int pos[]; };
layout(binding = 3) readonly buffer I { float inv[]; };
layout(binding = 4) buffer Y { float y[]; };
#ifdef CACHE
layout(binding = 5) readonly buffer V { float v[]; };
#ifdef CACHE_F32
layout(binding = 6) writeonly buffer CK { float ck[]; };
layout(binding = 7) writeonly buffer CV { float cv[]; };
#else
layout(binding = 6) writeonly buffer CK { uint ck[]; };
layout(binding = 7) writeonly buffer CV { uint cv[]; };
shared float krow[D]; // the row's rotated keys, to pack in pairs
#endif
#endif

layout(push_constant) uniform Push {
    uint T;
    uint heads;
    float eps;
    uint slots;
} pc;

#include "reduce.glsl"
#include "rope.glsl"

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.T * pc.heads) {
        return; // whole workgroup: the barriers below stay uniform
    }
    uint t = row / pc.heads;
    uint base = row * D;
    float ss = 0.0;
    for (uint j = gl_LocalInvocationID.x; j < HALF; j += gl_WorkGroupSize.x) {
        float a = x[base + j];
        float b = x[base + j + HALF];
        ss += a * a + b * b;
    }
    ss = workgroup_sum(ss);
    float s = inversesqrt(ss / float(D) + pc.eps);
#ifdef CACHE
    int p = pos[0] + int(t);
    // Token t + Slots (if in the chunk) writes the same cache row later.
    bool write = t + pc.slots >= pc.T;
    uint dst = (uint(p) % pc.slots) * pc.heads * D + (base - t * pc.heads * D);
#else
    int p = pos[t];
#endif
    for (uint j = gl_LocalInvocationID.x; j < HALF; j += gl_WorkGroupSize.x) {
        vec2 cs = rope_angle(p, inv[j]);
        float a = x[base + j] * s * g[j];
        float b = x[base + j + HALF] * s * g[j + HALF];
        // Each product rounded, no fused multiply-add, as the reference.
        precise float ya = a * cs.x - b * cs.y;
        precise float yb = b * cs.x + a * cs.y;
        y[base + j] = ya;
        y[base + j + HALF] = yb;
#if defined(CACHE_F32)
        if (write) {
            ck[dst + j] = ya;
            ck[dst + j + HALF] = yb;
            cv[dst + j] = v[base + j];
            cv[dst + j + HALF] = v[base + j + HALF];
        }
#elif defined(CACHE)
        krow[j] = ya;
        krow[j + HALF] = yb;
#endif
    }
#if defined(CACHE) && !defined(CACHE_F32)
    barrier();
    if (write) {
        // Word w of the row holds values 2w, 2w+1 (D even).
        uint dw = dst / 2;
        for (uint w = gl_LocalInvocationID.x; w < HALF; w += gl_WorkGroupSize.x) {
            ck[dw + w] = packHalf2x16(vec2(krow[2 * w], krow[2 * w + 1]));
            cv[dw + w] = packHalf2x16(vec2(v[base + 2 * w], v[base + 2 * w + 1]));
        }
    }
#endif
}

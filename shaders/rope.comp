#version 450
// RoPE, NeoX / rotate-half layout (GEMMA3.md §2), in place, as the CPU
// reference kernels.RoPE: for token t, head h, pair j < half = D/2,
//   theta = float(pos[t]) * inv[j]          (one f32 product, as the reference)
//   x[j]      = x[j] cos theta - x[j+half] sin theta
//   x[j+half] = x[j+half] cos theta + x[j] sin theta
// inv is the table of kernels.RoPEInvFreq (linear scaling already folded in).
//
// Bindings: 0 x f32 [T, heads*D] (read and written); 1 pos i32 [T];
//           2 inv f32 [D/2].
// Push: T, heads, D.  Spec: 0 workgroup size.
// Mapping: one invocation per (t, j), i = t*half + j, over a 2D grid
// (i = (group.y * groups.x + group.x) * wgsize + local); it computes
// sin/cos once and rotates pair j of every head of token t.
//
// Accuracy: theta reaches ~1.3e5 rad at position 131071, where GPU sin/cos
// promise nothing, so the angle is reduced (include/rope.glsl) to within
// ~2e-7 of the exact theta mod 2*pi for |theta| < 4.1e5.
//! variant rope_f32
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

layout(binding = 0) buffer X { float x[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
layout(binding = 2) readonly buffer I { float inv[]; };

layout(push_constant) uniform Push {
    uint tokens;
    uint heads;
    uint dim;
} pc;

#include "rope.glsl"

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    uint half_ = pc.dim / 2;
    if (i >= pc.tokens * half_) {
        return;
    }
    uint t = i / half_;
    uint j = i - t * half_;
    vec2 cs = rope_angle(pos[t], inv[j]);
    uint base = t * pc.heads * pc.dim + j;
    for (uint h = 0; h < pc.heads; h++) {
        uint o = base + h * pc.dim;
        float a = x[o];
        float b = x[o + half_];
        // Each product rounded, no fused multiply-add, as the reference.
        precise float ya = a * cs.x - b * cs.y;
        precise float yb = b * cs.x + a * cs.y;
        x[o] = ya;
        x[o + half_] = yb;
    }
}

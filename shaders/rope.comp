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
// promise nothing, so the angle is reduced here: a Cody-Waite reduction by
// 2*pi in three parts (the first two with 8 significant bits, so k*C1 and
// k*C2 are exact for |k| < 2^16, i.e. |theta| < 4.1e5), then by pi/2 to
// [-pi/4, pi/4], then Taylor polynomials good to ~1 ulp there. The
// reduced angle is within ~2e-7 of the exact theta mod 2*pi.
//! variant rope_f32

layout(local_size_x_id = 0) in;

layout(binding = 0) buffer X { float x[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
layout(binding = 2) readonly buffer I { float inv[]; };

layout(push_constant) uniform Push {
    uint tokens;
    uint heads;
    uint dim;
} pc;

// 2*pi = C1 + C2 + C3 (C1 = 201/32, C2 = 253/2^17, C3 = f32 rest).
const float INV_2PI = 0.15915493667125701904296875;
const float C1 = 6.28125;
const float C2 = 0.00193023681640625;
const float C3 = 0.00000507036338603938929736614227294921875;
// pi/2 = P1 + P2 (P1 = f32(pi/2), P2 = f32 rest).
const float TWO_OVER_PI = 0.636619746685028076171875;
const float P1 = 1.57079637050628662109375;
const float P2 = -0.00000004371138828673792886547744274139404296875;

// sincos returns (cos th, sin th) for |th| < 4.1e5.
vec2 sincos(precise float th) {
    precise float k = floor(th * INV_2PI + 0.5);
    // th - k*C1 and then - k*C2 are exact (products exact, results small).
    precise float r = th - k * C1;
    r = r - k * C2;
    r = r - k * C3; // |r| <= pi + ~1e-6
    precise float q = floor(r * TWO_OVER_PI + 0.5); // -2 .. 2
    r = r - q * P1; // exact: q*P1 is exact and r is near it (Sterbenz)
    r = r - q * P2; // |r| <= pi/4 + ~1e-6
    precise float r2 = r * r;
    precise float s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0
        + r2 * (1.0 / 362880.0 + r2 * (-1.0 / 39916800.0)))));
    precise float c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0
        + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
    switch (int(q) & 3) {
    case 0: return vec2(c, s);
    case 1: return vec2(-s, c);
    case 2: return vec2(-c, -s);
    default: return vec2(s, -c);
    }
}

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    uint half_ = pc.dim / 2;
    if (i >= pc.tokens * half_) {
        return;
    }
    uint t = i / half_;
    uint j = i - t * half_;
    precise float th = float(pos[t]) * inv[j];
    vec2 cs = sincos(th);
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

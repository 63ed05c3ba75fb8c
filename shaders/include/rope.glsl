// RoPE angle arithmetic shared by rope.comp and normrope.comp: cos and sin
// of theta = float(pos) * inv[j] (one f32 product, as kernels.RoPE) with
// an accurate range reduction.
//
// theta reaches ~1.3e5 rad at position 131071, where GPU sin/cos promise
// nothing, so the angle is reduced here: a Cody-Waite reduction by 2*pi in
// three parts (the first two with 8 significant bits, so k*C1 and k*C2 are
// exact for |k| < 2^16, i.e. |theta| < 4.1e5), then by pi/2 to
// [-pi/4, pi/4], then Taylor polynomials good to ~1 ulp there. The reduced
// angle is within ~2e-7 of the exact theta mod 2*pi. Every step is
// `precise`, so no compiler contracts or reorders it.
#ifndef ROPE_GLSL
#define ROPE_GLSL

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

// rope_angle returns (cos, sin) of the angle of pair j at position p.
vec2 rope_angle(int p, float inv_j) {
    precise float th = float(p) * inv_j;
    return sincos(th);
}

#endif

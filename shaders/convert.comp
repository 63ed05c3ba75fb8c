#version 450
// f32 <-> f16 conversion with packed halves: element i of an f16 array is
// bits [16*(i&1), +16) of word i/2; an odd n leaves the last upper half 0.
// Both directions use integer operations only, so they are exact and
// device-independent (packHalf2x16's rounding is implementation-defined,
// and float loads/stores could flush subnormals or canonicalize NaNs):
// f32 -> f16 rounds to nearest even exactly as quant.F32ToF16 (overflow to
// Inf, subnormal halves, NaN quietened keeping its top payload bits);
// f16 -> f32 is exact as quant.F16ToF32 (NaN payloads kept).
//
//   f32_to_f16  bindings 0 x f32 bits [n] (u32), 1 y u32 [(n+1)/2]
//   f16_to_f32  bindings 0 x u32 [(n+1)/2], 1 y f32 bits [n] (u32)
// Push: n.  Spec: 0 workgroup size.
// Mapping: one invocation per packed word w < (n+1)/2 (elements 2w, 2w+1)
// over a 2D grid (w = (group.y * groups.x + group.x) * wgsize + local).
//! variant f32_to_f16 TO_F16
//! variant f16_to_f32 TO_F32

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer X { uint x[]; };
layout(binding = 1) writeonly buffer Y { uint y[]; };

layout(push_constant) uniform Push {
    uint n;
} pc;

// f32_to_f16 returns the binary16 bits of the float32 with bits b.
uint f32_to_f16(uint b) {
    uint sign = (b >> 16) & 0x8000u;
    int exp = int((b >> 23) & 0xffu);
    uint mant = b & 0x7fffffu;
    if (exp == 0xff) {
        return mant == 0u ? (sign | 0x7c00u) : (sign | 0x7e00u | (mant >> 13));
    }
    int e = exp - 127 + 15; // biased half exponent
    if (e >= 0x1f) {
        return sign | 0x7c00u;
    }
    if (e <= 0) {
        // Subnormal half or zero, counting units of 2^-24: the 24-bit
        // significand m is worth m * 2^(e-14) units.
        if (e < -10) {
            return sign;
        }
        uint m = mant | 0x800000u;
        uint shift = uint(14 - e); // 14 .. 24
        uint q = m >> shift;
        uint rem = m & ((1u << shift) - 1u);
        uint halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u) == 1u)) {
            q++; // may carry into the smallest normal, which is right
        }
        return sign | q;
    }
    uint q = (uint(e) << 10) | (mant >> 13);
    uint rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) == 1u)) {
        q++; // a carry out of the mantissa bumps the exponent, up to Inf
    }
    return sign | q;
}

// f16_to_f32 returns the float32 bits of the binary16 h.
uint f16_to_f32(uint h) {
    uint sign = (h & 0x8000u) << 16;
    uint em = h & 0x7fffu;
    if (em >= 0x7c00u) { // Inf or NaN
        return sign | 0x7f800000u | ((em & 0x3ffu) << 13);
    }
    if (em >= 0x0400u) { // normal: rebias 15 -> 127
        return sign | ((em + (112u << 10)) << 13);
    }
    if (em == 0u) {
        return sign;
    }
    // Subnormal em * 2^-24 = 1.f * 2^(p-24), p the top set bit of em.
    int p = findMSB(em);
    return sign | (uint(p + 103) << 23) | ((em << (23 - p)) & 0x7fffffu);
}

void main() {
    uint w = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    if (w >= (pc.n + 1u) / 2u) {
        return;
    }
    uint i = 2u * w;
#ifdef TO_F16
    uint lo = f32_to_f16(x[i]);
    uint hi = i + 1u < pc.n ? f32_to_f16(x[i + 1u]) : 0u;
    y[w] = lo | (hi << 16);
#else
    uint v = x[w];
    y[i] = f16_to_f32(v & 0xffffu);
    if (i + 1u < pc.n) {
        y[i + 1u] = f16_to_f32(v >> 16);
    }
#endif
}

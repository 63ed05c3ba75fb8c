// Block decoding of weight matrices in their device layout (their file
// encoding, FORMATS.md §2, kernels/quant the reference for the bit layout;
// Q6_K and Q4_0 rearranged as kernels.Weight.DeviceData says and each
// section below notes), one section per type.
//
// The including shader declares the weights as 32-bit words before the
// #include, with a 4-byte aligned start:
//
//	layout(binding = 0) readonly buffer W { uint wq[]; };
//
// and defines exactly one TYPE_<name> (TYPE_F32, TYPE_F16, TYPE_BF16,
// TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q8_0, TYPE_Q2_K,
// TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K). Only core 32-bit types are
// used: halves are unpacked with unpackHalf2x16, bf16 as the high half of a
// float, bytes and nibbles shifted out of words.
//
// A block of QK elements takes QB bytes. Every block size is even, so a
// block starts on a 2-byte boundary; types whose size is a multiple of 4
// read whole words, the others read through q_u32/q_u64/q_u128, which join
// the halves of neighbouring words.
//
// A block is decoded in QU units of 4*QV elements. Unit u's elements are QV
// runs of 4 consecutive ones; run k starts at element q_pos(u, k) of the
// block:
//
//	void q_unit(uint bo, uint u, out vec4 v[QV])  // bo: the block's byte offset
//	uint q_pos(uint u, uint k)
//
// A unit is one lane's share of a block in matvec: it reads consecutive
// words (coalesced across the lanes taking consecutive units) and every
// quant word once. Units 2s and 2s+1 of a K-quant block cover its elements
// [64s, 64s+64); the units of every other type cover the whole block, which
// is at most 32 elements. So the units numbered [64/EU·t, 64/EU·(t+1)) of a
// row (EU = 4*QV elements each, numbered across blocks) cover its elements
// [64t, 64t+64): the matmul tile along K is 64.
//
// F32, F16 and BF16 also have q_elem(i), element i of the whole buffer
// (Q_PLAIN defined), for rows whose length is not a multiple of QK.
// Loops over constant bounds carry [[unroll]]: their arrays of vec4 must
// stay in registers. Including shaders enable GL_EXT_control_flow_attributes.
#ifndef QUANT_GLSL
#define QUANT_GLSL

// ---- Loads (loads.glsl) and bit helpers.

#include "loads.glsl"

// q_bits extracts (byte >> s) & mask from each of the four bytes of w.
uvec4 q_bits(uint w, uint s, uint mask) {
    return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + s)) & mask;
}

// q_float returns float(q) - off exactly for q < 2^23: 2^23 + q is the
// float whose mantissa is q. (No integer-to-float conversion, which is
// slower than the float add on some GPUs.)
vec4 q_float(uvec4 q, float off) {
    return uintBitsToFloat(q | 0x4B000000u) - (8388608.0 + off);
}

// ---- Plain types: a "block" is 16 bytes of consecutive elements.

#if defined(TYPE_F32)
#define Q_PLAIN
#define QK 4u
#define QB 16u
#define QU 1u
#define QV 1
uint q_pos(uint u, uint k) { return 4u * k; }
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint i = bo >> 2;
    v[0] = uintBitsToFloat(uvec4(wq[i], wq[i + 1u], wq[i + 2u], wq[i + 3u]));
}
float q_elem(uint i) { return uintBitsToFloat(wq[i]); }

#elif defined(TYPE_F16)
#define Q_PLAIN
#define QK 8u
#define QB 16u
#define QU 1u
#define QV 2
uint q_pos(uint u, uint k) { return 4u * k; }
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint i = bo >> 2;
    v[0] = vec4(unpackHalf2x16(wq[i]), unpackHalf2x16(wq[i + 1u]));
    v[1] = vec4(unpackHalf2x16(wq[i + 2u]), unpackHalf2x16(wq[i + 3u]));
}
float q_elem(uint i) { return unpackHalf2x16(wq[i >> 1] >> ((i & 1u) << 4)).x; }

#elif defined(TYPE_BF16)
#define Q_PLAIN
#define QK 8u
#define QB 16u
#define QU 1u
#define QV 2
// Both bfloat16 halves of w, low first.
vec2 q_bf16x2(uint w) { return uintBitsToFloat(uvec2(w << 16, w & 0xFFFF0000u)); }
uint q_pos(uint u, uint k) { return 4u * k; }
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint i = bo >> 2;
    v[0] = vec4(q_bf16x2(wq[i]), q_bf16x2(wq[i + 1u]));
    v[1] = vec4(q_bf16x2(wq[i + 2u]), q_bf16x2(wq[i + 3u]));
}
float q_elem(uint i) { return uintBitsToFloat((wq[i >> 1] >> ((i & 1u) << 4)) << 16); }

// ---- 32-element blocks: two units of 16 elements. In the 4- and 5-bit
// types unit u holds qs bytes [8u, 8u+8): low nibbles are elements
// 8u + b, high nibbles 16 + 8u + b.

#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#define QK 32u
#define QU 2u
#define QV 4
uint q_pos(uint u, uint k) { return 8u * u + 4u * (k & 1u) + 16u * (k >> 1); }

#if defined(TYPE_Q4_0)
// 18 bytes: d f16 at 0, qs[16] at 2; value d·(q − 8). In device memory
// every 8 blocks are regrouped (kernels.Weight.DeviceData): the block at
// bo = 18B has its qs at 144g + 16j and d at 144g + 128 + 2j (g = B / 8,
// j = B % 8).
#define QB 18u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint g = bo / 144u, j = (bo - 144u * g) / 18u;
    float d = q_f16(144u * g + 128u + 2u * j);
    uvec2 q = q_u64(144u * g + 16u * j + 8u * u);
    [[unroll]] for (uint w = 0u; w < 2u; w++) {
        v[w] = q_float(q_bits(q[w], 0u, 0xFu), 8.0) * d;
        v[2u + w] = q_float(q_bits(q[w], 4u, 0xFu), 8.0) * d;
    }
}

#elif defined(TYPE_Q4_1)
// 20 bytes: d f16 at 0, m f16 at 2, qs[16] at 4; value d·q + m.
#define QB 20u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint i = bo >> 2;
    vec2 dm = unpackHalf2x16(wq[i]);
    uvec2 q = uvec2(wq[i + 1u + 2u * u], wq[i + 2u + 2u * u]);
    [[unroll]] for (uint w = 0u; w < 2u; w++) {
        v[w] = q_float(q_bits(q[w], 0u, 0xFu), 0.0) * dm.x + dm.y;
        v[2u + w] = q_float(q_bits(q[w], 4u, 0xFu), 0.0) * dm.x + dm.y;
    }
}

#elif defined(TYPE_Q5_0)
// 22 bytes: d f16 at 0, qh u32 at 2 (bit e is element e's fifth bit),
// qs[16] at 6; value d·(q − 16).
#define QB 22u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    float d = q_f16(bo);
    uint qh = q_u32(bo + 2u);
    uvec2 q = q_u64(bo + 6u + 8u * u);
    [[unroll]] for (uint w = 0u; w < 2u; w++) {
        uvec4 hl = (uvec4(qh >> q_pos(u, w)) >> uvec4(0u, 1u, 2u, 3u)) & 1u;
        uvec4 hh = (uvec4(qh >> q_pos(u, 2u + w)) >> uvec4(0u, 1u, 2u, 3u)) & 1u;
        v[w] = q_float(q_bits(q[w], 0u, 0xFu) | (hl << 4), 16.0) * d;
        v[2u + w] = q_float(q_bits(q[w], 4u, 0xFu) | (hh << 4), 16.0) * d;
    }
}

#else // TYPE_Q5_1
// 24 bytes: d f16 at 0, m f16 at 2, qh u32 at 4, qs[16] at 8; value d·q + m.
#define QB 24u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint i = bo >> 2;
    vec2 dm = unpackHalf2x16(wq[i]);
    uint qh = wq[i + 1u];
    uvec2 q = uvec2(wq[i + 2u + 2u * u], wq[i + 3u + 2u * u]);
    [[unroll]] for (uint w = 0u; w < 2u; w++) {
        uvec4 hl = (uvec4(qh >> q_pos(u, w)) >> uvec4(0u, 1u, 2u, 3u)) & 1u;
        uvec4 hh = (uvec4(qh >> q_pos(u, 2u + w)) >> uvec4(0u, 1u, 2u, 3u)) & 1u;
        v[w] = q_float(q_bits(q[w], 0u, 0xFu) | (hl << 4), 0.0) * dm.x + dm.y;
        v[2u + w] = q_float(q_bits(q[w], 4u, 0xFu) | (hh << 4), 0.0) * dm.x + dm.y;
    }
}
#endif

#elif defined(TYPE_Q8_0)
// 34 bytes: d f16 at 0, qs i8[32] at 2; value d·q. Unit u: elements
// [16u, 16u+16).
#define QK 32u
#define QB 34u
#define QU 2u
#define QV 4
uint q_pos(uint u, uint k) { return 16u * u + 4u * k; }
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    float d = q_f16(bo);
    uvec4 q = q_u128(bo + 2u + 16u * u);
    [[unroll]] for (uint w = 0u; w < 4u; w++) {
        // i8 = (byte ^ 0x80) − 128
        v[w] = q_float(q_bits(q[w], 0u, 0xFFu) ^ 0x80u, 128.0) * d;
    }
}

// ---- 256-element K-quant super-blocks: eight units of 32 elements. Unit
// u = 2s + h covers half h of the 64-element segment s: in Q2_K, Q3_K and
// Q6_K (element e = 128n + 32k + l) s = 2n + kk and the unit holds
// k ∈ {2kk, 2kk+1}, l ∈ [16h, 16h+16); in Q4_K and Q5_K (segment = chunk c
// of 64) it holds l ∈ [16h, 16h+16) of both 32-element sub-blocks.

#else
#define QK 256u
#define QU 8u
#define QV 8
// Run k = 4j + w: elements 64s + 32j + 16h + 4w ...+3, j the sub-block
// (k = 2kk + j in the 128-element layouts), w the word of the unit's bytes.
uint q_pos(uint u, uint k) { return 64u * (u >> 1) + 32u * (k >> 2) + 16u * (u & 1u) + 4u * (k & 3u); }

#if defined(TYPE_Q2_K)
// 84 bytes: scales[16] at 0 (low nibble scale, high nibble min, one per 16
// elements), qs[64] at 16, d f16 at 80, dmin f16 at 82;
// q = (qs[32n + l] >> 2k) & 3, value d·(sc & 15)·q − dmin·(sc >> 4).
#define QB 84u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint s = u >> 1, n = s >> 1, kk = s & 1u, h = u & 1u;
    uint i = bo >> 2;
    vec2 dm = unpackHalf2x16(wq[i + 20u]);
    uint sw = wq[i + s]; // scales 8n + 4kk ... +3: index 8n + 2k + h is byte 2j + h
    uint qi = i + 4u + 8u * n + 4u * h;
    uvec4 q = uvec4(wq[qi], wq[qi + 1u], wq[qi + 2u], wq[qi + 3u]);
    [[unroll]] for (uint j = 0u; j < 2u; j++) {
        uint k = 2u * kk + j;
        uint sc = (sw >> (16u * j + 8u * h)) & 0xFFu;
        float dl = dm.x * float(sc & 0xFu);
        float ml = dm.y * float(sc >> 4);
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            v[4u * j + w] = dl * q_float(q_bits(q[w], 2u * k, 3u), 0.0) - ml;
        }
    }
}

#elif defined(TYPE_Q3_K)
// 110 bytes: hmask[32] at 0, qs[64] at 32, scales[12] at 96 (16 signed
// 6-bit scales), d f16 at 108; q = ((qs[32n + l] >> 2k) & 3) − 4 unless bit
// 4n + k of hmask[l] is set; value d·scale·q.
#define QB 110u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint s = u >> 1, n = s >> 1, kk = s & 1u, h = u & 1u;
    float d = q_f16(bo + 108u);
    // Scale index 8n + 4kk + 2j + h: its low 4 bits are nibble n of
    // scales byte 4kk + 2j + h, its high 2 bits bits 2(2n + kk) of
    // scales byte 8 + 2j + h.
    uint sw = q_u32(bo + 96u + 4u * kk);
    uint hw = q_u32(bo + 104u);
    uvec4 q = q_u128(bo + 32u + 32u * n + 16u * h);
    uvec4 hm = q_u128(bo + 16u * h);
    [[unroll]] for (uint j = 0u; j < 2u; j++) {
        uint k = 2u * kk + j;
        uint lo = (sw >> (16u * j + 8u * h + 4u * n)) & 0xFu;
        uint hi = (hw >> (16u * j + 8u * h + 2u * s)) & 3u;
        float dl = d * float(int(lo | (hi << 4)) - 32);
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            uvec4 qq = q_bits(q[w], 2u * k, 3u) | (q_bits(hm[w], 4u * n + k, 1u) << 2);
            v[4u * j + w] = dl * q_float(qq, 4.0);
        }
    }
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// Scale and min of sub-block j of the 12 packed bytes s (get_scale_min_k4):
// j < 4: s[j] & 63, s[j+4] & 63; j >= 4: (s[j+4] & 15) | (s[j−4] >> 6) << 4,
// (s[j+4] >> 4) | (s[j] >> 6) << 4.
uint q_sbyte(uvec3 s, uint b) { return (s[b >> 2] >> ((b & 3u) << 3)) & 0xFFu; }
uvec2 q_scale_min(uvec3 s, uint j) {
    if (j < 4u) {
        return uvec2(q_sbyte(s, j), q_sbyte(s, j + 4u)) & 63u;
    }
    uint a = q_sbyte(s, j + 4u);
    return uvec2((a & 0xFu) | ((q_sbyte(s, j - 4u) >> 6) << 4), (a >> 4) | ((q_sbyte(s, j) >> 6) << 4));
}

#if defined(TYPE_Q4_K)
// 144 bytes: d f16 at 0, dmin f16 at 2, scales[12] at 4, qs[128] at 16.
// Chunk c (elements [64c, 64c+64)) is qs[32c ...+32]: low nibbles are
// sub-block 2c, high nibbles sub-block 2c+1; value d·sc·q − dmin·mn.
#define QB 144u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint c = u >> 1, h = u & 1u;
    uint i = bo >> 2;
    vec2 dm = unpackHalf2x16(wq[i]);
    uvec3 sm = uvec3(wq[i + 1u], wq[i + 2u], wq[i + 3u]);
    uint qi = i + 4u + 8u * c + 4u * h;
    uvec4 q = uvec4(wq[qi], wq[qi + 1u], wq[qi + 2u], wq[qi + 3u]);
    [[unroll]] for (uint j = 0u; j < 2u; j++) {
        uvec2 a = q_scale_min(sm, 2u * c + j);
        float dl = dm.x * float(a.x);
        float ml = dm.y * float(a.y);
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            v[4u * j + w] = dl * q_float(q_bits(q[w], 4u * j, 0xFu), 0.0) - ml;
        }
    }
}

#else // TYPE_Q5_K
// 176 bytes: as Q4_K with qh[32] at 16 and qs[128] at 48; element
// 64c + 32j + l takes bit 2c + j of qh[l] as its fifth bit.
#define QB 176u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint c = u >> 1, h = u & 1u;
    uint i = bo >> 2;
    vec2 dm = unpackHalf2x16(wq[i]);
    uvec3 sm = uvec3(wq[i + 1u], wq[i + 2u], wq[i + 3u]);
    uint hi = i + 4u + 4u * h;
    uvec4 qh = uvec4(wq[hi], wq[hi + 1u], wq[hi + 2u], wq[hi + 3u]);
    uint qi = i + 12u + 8u * c + 4u * h;
    uvec4 q = uvec4(wq[qi], wq[qi + 1u], wq[qi + 2u], wq[qi + 3u]);
    [[unroll]] for (uint j = 0u; j < 2u; j++) {
        uvec2 a = q_scale_min(sm, 2u * c + j);
        float dl = dm.x * float(a.x);
        float ml = dm.y * float(a.y);
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            uvec4 qq = q_bits(q[w], 4u * j, 0xFu) | (q_bits(qh[w], 2u * c + j, 1u) << 4);
            v[4u * j + w] = dl * q_float(qq, 0.0) - ml;
        }
    }
}
#endif

#elif defined(TYPE_Q6_K)
// 210 bytes: ql[128] at 0, qh[64] at 128, scales i8[16] at 192, d f16 at
// 208; element 128n + 32k + l: low 4 bits from ql[64n + 32(k & 1) + l]
// (low nibble for k < 2), high 2 bits (qh[32n + l] >> 2k) & 3;
// value d·scales[e/16]·(q − 32). In device memory each block is padded
// to 224 bytes (kernels.DeviceBlockBytes), the pieces at the same offsets.
#define QB 224u
void q_unit(uint bo, uint u, out vec4 v[QV]) {
    uint s = u >> 1, n = s >> 1, kk = s & 1u, h = u & 1u;
    float d = q_f16(bo + 208u);
    // Scale index 8n + 4kk + 2j + h: byte 2j + h of this word.
    int sw = int(q_u32(bo + 192u + 8u * n + 4u * kk));
    uvec4 qh = q_u128(bo + 128u + 32u * n + 16u * h);
    [[unroll]] for (uint j = 0u; j < 2u; j++) {
        uint k = 2u * kk + j;
        float dl = d * float(bitfieldExtract(sw, int(16u * j + 8u * h), 8));
        uvec4 ql = q_u128(bo + 64u * n + 32u * j + 16u * h);
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            uvec4 qq = q_bits(ql[w], 4u * kk, 0xFu) | (q_bits(qh[w], 2u * k, 3u) << 4);
            v[4u * j + w] = dl * q_float(qq, 32.0);
        }
    }
}

#else
#error "quant.glsl: define one TYPE_<name>"
#endif
#endif

#endif

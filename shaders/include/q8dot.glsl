// Dot products of weight blocks in their device layout with an activation
// vector quantized to 8 bits (matvec_q8.comp), through the integer dot
// product instructions. One of TYPE_Q4_0, TYPE_Q5_0, TYPE_Q8_0, TYPE_Q4_K,
// TYPE_Q6_K is defined.
//
// The including shader declares:
//   wq  uint[]  the weight in its device layout (kernels.Weight.DeviceData:
//               rows of blocks back to back, 4-byte aligned; 16-byte
//               aligned for Q4_0, Q4_K and Q6_K), read through loads.glsl
//   wq4 uvec4[] the same weight as uvec4s (read for Q4_0, Q4_K, Q6_K)
//   sx  uvec4[] the quantized activations: 16 int8 values per entry,
//               element e in byte e % 4 of word (e / 4) % 4 of entry e / 16
//   sb  uvec2[] per 32 activations b: x = floatBits(scale), y = the sums of
//               the int8 values of its halves as two int16 (low: elements
//               32b ... 32b+15, high: 32b+16 ... 32b+31)
//   sdot(int, int, 0), sudot(int, uint, 0): OpSDot / OpSUDot of packed
//               4 x 8-bit vectors (signed x signed, signed x unsigned)
// The activation x_e stands for scale(e/32) * q_e, so each block's product
// is exact in integers and scaled once:
//
//	float q8_unit(uint bo, uint u, uint xe)
//
// returns the dot product of unit u of the block at byte offset bo with
// the activations from element xe (the block's first) on. A block has
// Q8_UPB units of Q8_UE elements; lanes take consecutive units.
#ifndef Q8DOT_GLSL
#define Q8DOT_GLSL

#include "loads.glsl"

// q8_half_sum returns the int8 sum of half h (0 or 1) of a 32-block.
int q8_half_sum(uint packed, uint h) {
    return bitfieldExtract(int(packed), int(16u * h), 16);
}

#if defined(TYPE_Q4_0)
// 18 bytes: d f16, qs[16]: byte l holds element l (low nibble) and l + 16
// (high nibble); value d·(q − 8). One unit is the block. In device memory
// every 8 blocks are regrouped (kernels.Weight.DeviceData): block B (byte
// offset bo = 18B) has its qs at 144g + 16j and d at 144g + 128 + 2j, g =
// B / 8, j = B % 8, so qs is one 16-byte load through wq4.
#define Q8_QK 32u
#define Q8_QB 18u
#define Q8_UPB 1u
float q8_unit(uint bo, uint u, uint xe) {
    uint g = bo / 144u, j = (bo - 144u * g) / 18u;
    uvec4 q = wq4[9u * g + j];
    uvec4 xa = sx[xe >> 4], xb = sx[(xe >> 4) + 1u];
    uvec2 s = sb[xe >> 5];
    int acc = 0;
    [[unroll]] for (uint w = 0u; w < 4u; w++) {
        acc += sudot(int(xa[w]), q[w] & 0x0F0F0F0Fu, 0);
        acc += sudot(int(xb[w]), (q[w] >> 4) & 0x0F0F0F0Fu, 0);
    }
    int isum = q8_half_sum(s.y, 0u) + q8_half_sum(s.y, 1u);
    return q_f16(144u * g + 128u + 2u * j) * uintBitsToFloat(s.x) * float(acc - 8 * isum);
}

#elif defined(TYPE_Q5_0)
// 22 bytes: d f16, qh u32 at 2 (bit e is element e's fifth bit), qs[16] at
// 6: byte l holds element l (low nibble) and l + 16 (high nibble); value
// d·(q − 16). One unit is the block.
#define Q8_QK 32u
#define Q8_QB 22u
#define Q8_UPB 1u
// q8_fifth moves bits 0-3 of b to bit 4 of bytes 0-3.
uint q8_fifth(uint b) {
    return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}
float q8_unit(uint bo, uint u, uint xe) {
    uvec4 q = q_u128(bo + 6u);
    uint qh = q_u32(bo + 2u);
    uvec4 xa = sx[xe >> 4], xb = sx[(xe >> 4) + 1u];
    uvec2 s = sb[xe >> 5];
    int acc = 0;
    [[unroll]] for (uint w = 0u; w < 4u; w++) {
        acc += sudot(int(xa[w]), (q[w] & 0x0F0F0F0Fu) | q8_fifth(qh >> (4u * w)), 0);
        acc += sudot(int(xb[w]), ((q[w] >> 4) & 0x0F0F0F0Fu) | q8_fifth(qh >> (16u + 4u * w)), 0);
    }
    int isum = q8_half_sum(s.y, 0u) + q8_half_sum(s.y, 1u);
    return q_f16(bo) * uintBitsToFloat(s.x) * float(acc - 16 * isum);
}

#elif defined(TYPE_Q8_0)
// 34 bytes: d f16, qs[32] int8; value d·q. One unit is the block.
#define Q8_QK 32u
#define Q8_QB 34u
#define Q8_UPB 1u
float q8_unit(uint bo, uint u, uint xe) {
    uvec4 qa = q_u128(bo + 2u), qb = q_u128(bo + 18u);
    uvec4 xa = sx[xe >> 4], xb = sx[(xe >> 4) + 1u];
    int acc = 0;
    [[unroll]] for (uint w = 0u; w < 4u; w++) {
        acc += sdot(int(xa[w]), int(qa[w]), 0);
        acc += sdot(int(xb[w]), int(qb[w]), 0);
    }
    return q_f16(bo) * uintBitsToFloat(sb[xe >> 5].x) * float(acc);
}

#elif defined(TYPE_Q4_K)
// 144 bytes: d f16 at 0, dmin f16 at 2, scales[12] at 4, qs[128] at 16.
// Unit c (elements [64c, 64c+64)) is qs[32c ... +32]: byte l holds element
// 64c + l (sub-block 2c, low nibble) and 64c + 32 + l (sub-block 2c + 1,
// high nibble); value d·sc·q − dmin·mn with 6-bit sc, mn per sub-block.
#define Q8_QK 256u
#define Q8_QB 144u
#define Q8_UPB 4u
// A block is 9 whole uvec4s (the weight's start 16-byte aligned): three
// 16-byte loads per unit through wq4.
float q8_unit(uint bo, uint c, uint xe) {
    uint i = bo >> 4;
    uvec4 head = wq4[i];
    uvec4 qs[2] = uvec4[2](wq4[i + 1u + 2u * c], wq4[i + 2u + 2u * c]);
    vec2 dm = unpackHalf2x16(head.x);
    // Scale and min bytes of sub-blocks j = 2c, 2c + 1 as byte pairs
    // (get_scale_min_k4): j < 4 takes bits 0-5 of bytes j and j + 4; j >= 4
    // joins the nibbles of byte j + 4 with bits 6-7 of bytes j − 4 and j.
    uint sh = 16u * (c & 1u);
    uint a1 = head.y >> sh, a2 = head.z >> sh, a3 = head.w >> sh;
    uint sc = a1 & 0x3F3Fu, mn = a2 & 0x3F3Fu;
    if (c >= 2u) {
        sc = (a3 & 0x0F0Fu) | ((a1 >> 2) & 0x3030u);
        mn = ((a3 >> 4) & 0x0F0Fu) | ((a2 >> 2) & 0x3030u);
    }
    uint xi = (xe >> 4) + 4u * c;
    int lo = 0, hi = 0;
    [[unroll]] for (uint part = 0u; part < 2u; part++) {
        uvec4 xl = sx[xi + part], xh = sx[xi + 2u + part];
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            uint q = qs[part][w];
            lo += sudot(int(xl[w]), q & 0x0F0F0F0Fu, 0);
            hi += sudot(int(xh[w]), (q >> 4) & 0x0F0F0F0Fu, 0);
        }
    }
    uvec2 s0 = sb[(xe >> 5) + 2u * c], s1 = sb[(xe >> 5) + 2u * c + 1u];
    float d0 = uintBitsToFloat(s0.x), d1 = uintBitsToFloat(s1.x);
    int i0 = q8_half_sum(s0.y, 0u) + q8_half_sum(s0.y, 1u);
    int i1 = q8_half_sum(s1.y, 0u) + q8_half_sum(s1.y, 1u);
    float scaled = float(sc & 0xFFu) * d0 * float(lo) + float(sc >> 8) * d1 * float(hi);
    float mins = float(mn & 0xFFu) * d0 * float(i0) + float(mn >> 8) * d1 * float(i1);
    return dm.x * scaled - dm.y * mins;
}

#elif defined(TYPE_Q6_K)
// 210 bytes: ql[128] at 0, qh[64] at 128, scales i8[16] at 192, d f16 at
// 208; element 128n + 32k + l: low 4 bits from ql[64n + 32(k & 1) + l]
// (low nibble for k < 2), high 2 bits (qh[32n + l] >> 2k) & 3; value
// d·scales[8n + 2k + l/16]·(q − 32). Unit u = 2n + h takes l in [16h,
// 16h + 16) for the four k: 64 elements in 16-element runs.
// In device memory each block takes 224 bytes (kernels.DeviceBlockBytes):
// 14 whole uvec4s from a 16-byte boundary, so a unit is five 16-byte loads
// through wq4 (its ql runs, its qh run, the scales, d).
#define Q8_QK 256u
#define Q8_QB 224u
#define Q8_UPB 4u
float q8_unit(uint bo, uint u, uint xe) {
    uint n = u >> 1, h = u & 1u;
    uint i = bo >> 4;
    uvec4 qa = wq4[i + 4u * n + h];      // ql at 64n + 16h: k = 0 low, k = 2 high nibbles
    uvec4 qb = wq4[i + 4u * n + 2u + h]; // ql at 64n + 32 + 16h: k = 1 low, k = 3 high
    uvec4 qh = wq4[i + 8u + 2u * n + h]; // qh at 128 + 32n + 16h
    uvec4 scd = wq4[i + 12u];            // scales[0..15]
    float d = unpackHalf2x16(wq4[i + 13u].x).x;
    // Scale 8n + 2k + h is byte 2k + h of these 8 bytes.
    uvec2 scw = n == 0u ? scd.xy : scd.zw;
    float sum = 0.0;
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        uvec4 ql = (k & 1u) == 0u ? qa : qb;
        uvec4 x = sx[(xe >> 4) + 8u * n + 2u * k + h];
        int acc = 0;
        [[unroll]] for (uint w = 0u; w < 4u; w++) {
            uint q = ((ql[w] >> (4u * (k >> 1))) & 0x0F0F0F0Fu) | (((qh[w] >> (2u * k)) & 0x03030303u) << 4);
            acc += sudot(int(x[w]), q, 0);
        }
        uvec2 s = sb[(xe >> 5) + 4u * n + k];
        int sc = bitfieldExtract(int(scw[k >> 1]), int(16u * (k & 1u) + 8u * h), 8);
        sum += float(sc) * uintBitsToFloat(s.x) * float(acc - 32 * q8_half_sum(s.y, h));
    }
    return d * sum;
}

#else
#error "q8dot.glsl: define one of TYPE_Q4_0, TYPE_Q5_0, TYPE_Q8_0, TYPE_Q4_K, TYPE_Q6_K"
#endif

#endif

// Loads from a weight buffer in its device layout (kernels.Weight.DeviceData,
// the file encoding but for Q6_K and Q4_0): the including shader
// declares `wq`, a uint[] over bytes whose blocks start on 2-byte
// boundaries (quant.glsl, q8dot.glsl). Values straddling two words are
// joined from their halves.
#ifndef LOADS_GLSL
#define LOADS_GLSL

// q_half returns the 16-bit value at the even byte offset o.
uint q_half(uint o) {
    return (wq[o >> 2] >> ((o & 2u) << 3)) & 0xFFFFu;
}

// q_f16 decodes the binary16 at the even byte offset o.
float q_f16(uint o) {
    return unpackHalf2x16(q_half(o)).x;
}

// q_u32 returns the 4 bytes at the even byte offset o, little-endian.
uint q_u32(uint o) {
    uint i = o >> 2;
    uint a = wq[i];
    if ((o & 2u) != 0u) {
        a = (a >> 16) | (wq[i + 1u] << 16);
    }
    return a;
}

// q_u64 returns the 8 bytes at the even byte offset o as two words.
uvec2 q_u64(uint o) {
    uint i = o >> 2;
    uvec2 a = uvec2(wq[i], wq[i + 1u]);
    if ((o & 2u) != 0u) {
        a = (a >> 16) | (uvec2(a.y, wq[i + 2u]) << 16);
    }
    return a;
}

// q_u128 returns the 16 bytes at the even byte offset o as four words.
uvec4 q_u128(uint o) {
    uint i = o >> 2;
    uvec4 a = uvec4(wq[i], wq[i + 1u], wq[i + 2u], wq[i + 3u]);
    if ((o & 2u) != 0u) {
        a = (a >> 16) | (uvec4(a.yzw, wq[i + 4u]) << 16);
    }
    return a;
}

#endif

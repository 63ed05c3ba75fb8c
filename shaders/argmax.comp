#version 450
// Argmax of one row of V logits: the index of the largest value, ties to
// the lowest index; NaN ranks below -Inf, so it never wins over a number.
// Written as int32 into out[slot]; V = 0 writes -1.
//
// Values are compared through an order key (uint): for a float with bits b,
// key = b >= 0 ? b | 0x80000000 : ~b (so the key order is the float order,
// with -0 read as +0), NaN -> 1, and 0 marks "no element". A candidate is
// (key, index); larger key wins, then smaller index.
//
// Bindings: 0 logits f32 [V] (readonly); 1 scratch uint [2*G] (key, index)
// per workgroup of the first pass; 2 out int32 [slot+1..].
// Push: V, per (elements per workgroup of the first pass), slot.
// Spec: 0 workgroup size.
// Variants:
//   argmax_partial: G workgroups; workgroup g scans [g*per, min(V, (g+1)*per)),
//     invocations striding it, then reduces (key, index) over the workgroup
//     with subgroup max/min and one value per subgroup through shared
//     memory. With G = 1 it writes out[slot] itself (one dispatch); with
//     G > 1 it writes scratch[2g], scratch[2g+1].
//   argmax_merge: one workgroup reduces the G = ceil(V/per) partials of
//     scratch the same way and writes out[slot].
//! variant argmax_partial
//! variant argmax_merge MERGE
//! requires subgroup
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Logits { float logits[]; };
layout(binding = 1) buffer Scratch { uint scratch[]; };
layout(binding = 2) buffer Out { int tokens[]; };

layout(push_constant) uniform Push {
    uint n;
    uint per;
    uint slot;
} pc;

const uint NONE = 0xffffffffu; // index of "no element" (key 0)

uint order_key(float v) {
    uint b = floatBitsToUint(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return 1u; // NaN
    }
    if ((b & 0x7fffffffu) == 0u) {
        b = 0u; // -0 == +0
    }
    return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

// better reports whether (ka, ia) ranks above (kb, ib).
bool better(uint ka, uint ia, uint kb, uint ib) {
    return ka > kb || (ka == kb && ia < ib);
}

// Enough slots for 1024 invocations with subgroups of 16, or 256 with 4.
#define SLOTS 64
shared uint slot_key[SLOTS];
shared uint slot_idx[SLOTS];

// workgroup_best returns the best (key, index) of the workgroup to every
// invocation; all invocations must call it.
uvec2 workgroup_best(uint k, uint i) {
    uint sk = subgroupMax(k);
    uint si = subgroupMin(k == sk ? i : NONE);
    barrier();
    if (subgroupElect()) {
        slot_key[gl_SubgroupID] = sk;
        slot_idx[gl_SubgroupID] = si;
    }
    barrier();
    uint bk = slot_key[0];
    uint bi = slot_idx[0];
    for (uint s = 1; s < gl_NumSubgroups; s++) {
        if (better(slot_key[s], slot_idx[s], bk, bi)) {
            bk = slot_key[s];
            bi = slot_idx[s];
        }
    }
    return uvec2(bk, bi);
}

void main() {
    uint bk = 0u;
    uint bi = NONE;
#ifdef MERGE
    uint groups = (pc.n + pc.per - 1u) / pc.per;
    for (uint g = gl_LocalInvocationID.x; g < groups; g += gl_WorkGroupSize.x) {
        uint k = scratch[2u * g];
        uint i = scratch[2u * g + 1u];
        if (better(k, i, bk, bi)) {
            bk = k;
            bi = i;
        }
    }
#else
    uint start = gl_WorkGroupID.x * pc.per;
    uint end = min(pc.n, start + pc.per);
    // Invocations visit increasing indices, so ">" keeps the lowest on ties.
    for (uint i = start + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) {
        uint k = order_key(logits[i]);
        if (k > bk) {
            bk = k;
            bi = i;
        }
    }
#endif
    uvec2 best = workgroup_best(bk, bi);
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
#ifndef MERGE
    if (gl_NumWorkGroups.x > 1u) {
        scratch[2u * gl_WorkGroupID.x] = best.x;
        scratch[2u * gl_WorkGroupID.x + 1u] = best.y;
        return;
    }
#endif
    tokens[pc.slot] = int(best.y); // NONE reads as -1
}

#version 450
// Attention of one query token at position p = pos[0] (decode step) over
// the ring-buffer KV cache (GEMMA3.md §1.4, §3), split-K with the combine
// done in the same dispatch:
//
//   out[h] = Σ_j softmax_j(Scale · q[h]·k[j,g]) · v[j,g],  g = h / GRP,
//   keys j <= p, and j > p - Window when Window > 0
//
// Key p is the token's own (bindings 1, 2: the cache does not hold it yet);
// older keys come from the caches, row j % Slots.
//
// Bindings:
//   0 q   f32 [nH*D]            readonly
//   1 k   f32 [nKV*D]           readonly
//   2 v   f32 [nKV*D]           readonly
//   3 ck  cache [Slots, nKV*D]  readonly: f16 pairs packed in uint words (low
//                               half first), or f32 with CACHE_F32
//   4 cv  cache [Slots, nKV*D]  readonly, as ck
//   5 pos int32 [>= 1]          readonly
//   6 part f32 [nH, Splits, D+2]  scratch: per head and split the max m, the
//                               sum l and the unnormalized accumulator o[D]
//   7 out f32 [nH*D]
//   8 count uint [nKV]          zero before the dispatch, and zero again after
// Push: nH, nKV, Slots, Window, Scale, Splits.
// Spec: 0 workgroup size (NW subgroups); 1 D (a multiple of SG); 2 SG, the
// device's subgroup size; 3 GRP = nH / nKV; 4 NW.
// Mapping: group (x, y) = (split s, kv head g). The keys [lo, p] the token
// sees are cut into Splits runs; subgroup w of a workgroup takes keys
// w, w + NW, ... of its run, lane l holding dims l, l + SG, ... of q, k, v
// and of its GRP running accumulators (online softmax per subgroup). The
// subgroups merge through shared memory and the workgroup writes its
// partials; then it counts itself done on count[g], and the last workgroup
// of kv head g merges all splits into out (as attention_combine.comp) and
// resets count[g] for the next replay.
//! variant attention_decode_f16
//! variant attention_decode_f32 CACHE_F32
//! requires subgroup
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 256;
layout(constant_id = 2) const uint SG = 32;
layout(constant_id = 3) const uint GRP = 2;
layout(constant_id = 4) const uint NW = 4;
const uint DL = D / SG;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
#ifdef CACHE_F32
layout(binding = 3) readonly buffer CK { float ck[]; };
layout(binding = 4) readonly buffer CV { float cv[]; };
#else
layout(binding = 3) readonly buffer CK { uint ck[]; };
layout(binding = 4) readonly buffer CV { uint cv[]; };
#endif
layout(binding = 5) readonly buffer Pos { int pos[]; };
layout(binding = 6) coherent buffer Part { float part[]; };
layout(binding = 7) writeonly buffer Out { float outp[]; };
layout(binding = 8) coherent buffer Count { uint count[]; };

layout(push_constant) uniform Push {
    uint nH;
    uint nKV;
    uint slots;
    uint window;
    float scale;
    uint splits;
} pc;

#define MASKED (-3.0e38)

shared float sm[NW * GRP];
shared float sl[NW * GRP];
shared float so[NW * D];
shared float tm[GRP];
shared float tl[GRP];
shared bool last;

// kv returns element d of kv head g of key j (cache row j % Slots, or the
// token's own row when j == p).
float kv(bool values, uint j, uint p, uint g, uint d) {
    uint e = g * D + d;
    if (j == p) {
        return values ? v[e] : k[e];
    }
    e += (j % pc.slots) * pc.nKV * D;
#ifdef CACHE_F32
    return values ? cv[e] : ck[e];
#else
    uint w = values ? cv[e >> 1] : ck[e >> 1];
    return unpackHalf2x16(w >> ((e & 1u) << 4)).x;
#endif
}

void main() {
    uint s = gl_WorkGroupID.x, g = gl_WorkGroupID.y;
    uint lane = gl_SubgroupInvocationID, w = gl_SubgroupID;
    uint p = uint(pos[0]);
    uint lo = (pc.window > 0u && p + 1u > pc.window) ? p + 1u - pc.window : 0u;
    uint per = (p + 1u - lo + pc.splits - 1u) / pc.splits;
    uint a = min(p + 1u, lo + s * per), b = min(p + 1u, a + per);

    float qv[GRP * DL], acc[GRP * DL], m[GRP], l[GRP];
    [[unroll]] for (uint h = 0u; h < GRP; h++) {
        m[h] = MASKED;
        l[h] = 0.0;
        [[unroll]] for (uint i = 0u; i < DL; i++) {
            qv[h * DL + i] = q[(g * GRP + h) * D + lane + SG * i] * pc.scale;
            acc[h * DL + i] = 0.0;
        }
    }
    for (uint j = a + w; j < b; j += NW) {
        float kd[DL], vd[DL];
        [[unroll]] for (uint i = 0u; i < DL; i++) {
            kd[i] = kv(false, j, p, g, lane + SG * i);
            vd[i] = kv(true, j, p, g, lane + SG * i);
        }
        [[unroll]] for (uint h = 0u; h < GRP; h++) {
            float sc = 0.0;
            [[unroll]] for (uint i = 0u; i < DL; i++) {
                sc += qv[h * DL + i] * kd[i];
            }
            sc = subgroupAdd(sc);
            float mn = max(m[h], sc);
            float c = exp(m[h] - mn), e = exp(sc - mn);
            l[h] = l[h] * c + e;
            m[h] = mn;
            [[unroll]] for (uint i = 0u; i < DL; i++) {
                acc[h * DL + i] = acc[h * DL + i] * c + e * vd[i];
            }
        }
    }

    // Merge the subgroups, head by head, into this split's partials.
    uint rec = D + 2u;
    [[unroll]] for (uint h = 0u; h < GRP; h++) {
        if (lane == 0u) {
            sm[w * GRP + h] = m[h];
            sl[w * GRP + h] = l[h];
        }
        barrier();
        float mx = MASKED;
        for (uint u = 0u; u < NW; u++) {
            mx = max(mx, sm[u * GRP + h]);
        }
        float f = exp(m[h] - mx);
        [[unroll]] for (uint i = 0u; i < DL; i++) {
            so[w * D + lane + SG * i] = acc[h * DL + i] * f;
        }
        barrier();
        uint row = (g * GRP + h) * pc.splits + s;
        for (uint d = gl_LocalInvocationID.x; d < D; d += NW * SG) {
            float o = 0.0;
            for (uint u = 0u; u < NW; u++) {
                o += so[u * D + d];
            }
            part[row * rec + 2u + d] = o;
        }
        if (gl_LocalInvocationID.x == 0u) {
            float ls = 0.0;
            for (uint u = 0u; u < NW; u++) {
                ls += sl[u * GRP + h] * exp(sm[u * GRP + h] - mx);
            }
            part[row * rec] = mx;
            part[row * rec + 1u] = ls;
        }
        barrier();
    }

    // The last workgroup of kv head g to finish merges every split.
    memoryBarrierBuffer();
    barrier();
    if (gl_LocalInvocationID.x == 0u) {
        last = atomicAdd(count[g], 1u) == pc.splits - 1u;
    }
    barrier();
    if (!last) {
        return;
    }
    memoryBarrierBuffer();
    if (gl_LocalInvocationID.x < GRP) {
        uint h = gl_LocalInvocationID.x;
        uint base = (g * GRP + h) * pc.splits * rec;
        float mx = MASKED;
        for (uint t = 0u; t < pc.splits; t++) {
            mx = max(mx, part[base + t * rec]);
        }
        float ls = 0.0;
        for (uint t = 0u; t < pc.splits; t++) {
            float mt = part[base + t * rec];
            if (mt != MASKED) {
                ls += exp(mt - mx) * part[base + t * rec + 1u];
            }
        }
        tm[h] = mx;
        tl[h] = ls;
    }
    barrier();
    for (uint c = gl_LocalInvocationID.x; c < GRP * D; c += NW * SG) {
        uint h = c / D, d = c - h * D;
        uint base = (g * GRP + h) * pc.splits * rec;
        float o = 0.0;
        for (uint t = 0u; t < pc.splits; t++) {
            float mt = part[base + t * rec];
            if (mt != MASKED) {
                o += exp(mt - tm[h]) * part[base + t * rec + 2u + d];
            }
        }
        outp[(g * GRP + h) * D + d] = o / tl[h];
    }
    if (gl_LocalInvocationID.x == 0u) {
        count[g] = 0u;
    }
}

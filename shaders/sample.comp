#version 450
// Top-k sampling of one row of V logits on the GPU (kernels.SampleTopK is
// the reference, step for step):
//   1. candidates: the k largest logits (k <= KMAX), in descending order,
//      ties to the lowest index; NaN ranks below -Inf.
//   2. greedy (flags bit 0, temperature <= 0): pick candidate 0.
//   3. e_j = exp((min(l_j, FLT_MAX) - min(l_0, FLT_MAX)) * invT); e_j = 1
//      when the difference is 0; e_j = 0 for -Inf / NaN logits and below
//      FLT_MIN (no denormal weights on either side).
//   4. min-p keeps e_j > 0 with e_j >= minP * e_0; z = sum of the kept e_j.
//   5. top-p (0 < topP < 1) keeps the shortest prefix of the kept ones
//      whose running sum reaches topP * z; its sum is zc (else zc = z).
//   6. u = hash(seed, step) in [0, 1); the pick is the first kept candidate
//      of the prefix whose running sum exceeds u * zc (else the last one).
//   If every logit is -Inf or NaN, the token is -1 (none).
// Sums run in candidate order in one invocation, in f32, as the reference.
//
// Candidates are (key, index) pairs: key = order key of the float (b >= 0 ?
// b | 0x80000000 : ~b, -0 read as +0, NaN -> 1); key 0 marks "none".
//
// Bindings: 0 logits f32 [V] (readonly); 1 scratch uint [2*KMAX*G]: the
// candidate list of each first-pass workgroup g at [2*KMAX*g], pairs (key,
// index), ending early with key 0; 2 state uint [2]: seed, step; 3 out
// int32 [slot + max(ring, 1)].
// Push: V, per (elements per first-pass workgroup), k, invT (f32), topP
// (f32), minP (f32), slot, ring, flags (bit 0 greedy, bit 1 advance). The
// token goes to out[slot + (ring > 0 ? step % ring : 0)]; with "advance"
// the step is then incremented in place.
// FEED variants (sample_*_feed), for a replayed decode step: bindings 4
// ids int32 [1] and 5 pos int32 [1]; the invocation that writes the token
// also makes it the next step's input (ids[0]) and moves pos[0] on by one.
// Spec: 0 workgroup size (at most LISTS subgroups).
// Mapping: selection runs in subgroups, with no workgroup barrier per
// candidate. Each invocation keeps the best of its own elements; a
// subgroup takes its k best candidates in k rounds of subgroup max/min,
// the lane that owned each winner rescanning its elements for the next one
// ranked below it. Sorted lists are then merged by one subgroup in k rounds:
// lane l offers the best head of lists l, l + subgroup size, ...
// Variants:
//   sample_partial: G = ceil(V/per) <= LISTS workgroups; workgroup g owns
//     [g*per, min(V, (g+1)*per)), invocations striding it; one list per
//     subgroup in shared memory, merged into the workgroup's list. With
//     G = 1 the workgroup finishes the sampling itself; else it writes its
//     list to scratch.
//   sample_merge: one workgroup copies the G lists of scratch into shared
//     memory, merges them, and finishes the sampling.
//! variant sample_partial
//! variant sample_merge MERGE
//! variant sample_partial_feed FEED
//! variant sample_merge_feed MERGE FEED
//! requires subgroup
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Logits { float logits[]; };
layout(binding = 1) buffer Scratch { uint scratch[]; };
layout(binding = 2) buffer State { uint state[]; };
layout(binding = 3) buffer Out { int tokens[]; };
#ifdef FEED
layout(binding = 4) writeonly buffer Ids { int ids[]; };
layout(binding = 5) buffer Pos { int pos[]; };
#endif

layout(push_constant) uniform Push {
    uint n;
    uint per;
    uint k;
    float inv_t;
    float top_p;
    float min_p;
    uint slot;
    uint ring;
    uint flags;
} pc;

#define KMAX 64
const uint NONE = 0xffffffffu; // index of "no element" (key 0)
const float FLT_MAX = 3.402823466e38;
const float FLT_MIN = 1.175494351e-38;

bool is_nan(float v) {
    return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u;
}

uint order_key(float v) {
    uint b = floatBitsToUint(v);
    if (is_nan(v)) {
        return 1u;
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

// subgroup_best returns the best (key, index) of the subgroup.
uvec2 subgroup_best(uint k, uint i) {
    uint sk = subgroupMax(k);
    return uvec2(sk, subgroupMin(k == sk ? i : NONE));
}

// Sorted candidate lists: one per subgroup in the first pass, one per
// first-pass workgroup in the merge; list j holds up to k entries at
// [j*KMAX], ending early with key 0.
#define LISTS 32
shared uint list_key[LISTS * KMAX];
shared uint list_idx[LISTS * KMAX];
shared uint list_ptr[LISTS]; // the merge's read position in each list

uvec2 list_head(uint j) {
    uint p = list_ptr[j];
    if (p >= pc.k) {
        return uvec2(0u, NONE);
    }
    uint k = list_key[j * KMAX + p];
    return uvec2(k, k != 0u ? list_idx[j * KMAX + p] : NONE);
}

shared uint cand_idx[KMAX]; // the final candidates, best first
shared float cand_e[KMAX];
shared uint cand_n;

// merge_lists is run by one whole subgroup: it merges lists 0..nl-1 into
// their k best entries, written to scratch[base..] (pairs, ending early
// with key 0) when to_scratch, else to cand_idx and cand_n. Lane l owns
// lists l, l + gl_SubgroupSize, ... and offers the best of their heads;
// each round takes the subgroup's best, and its owner moves past it.
void merge_lists(uint nl, bool to_scratch, uint base) {
    uint lane = gl_SubgroupInvocationID;
    for (uint j = lane; j < nl; j += gl_SubgroupSize) {
        list_ptr[j] = 0u;
    }
    uint mk = 0u; // this lane's best head: key, index, list
    uint mi = NONE;
    uint ml = 0u;
    for (uint j = lane; j < nl; j += gl_SubgroupSize) {
        uvec2 h = list_head(j);
        if (better(h.x, h.y, mk, mi)) {
            mk = h.x;
            mi = h.y;
            ml = j;
        }
    }
    uint nc = 0u;
    for (uint r = 0u; r < pc.k; r++) {
        uvec2 b = subgroup_best(mk, mi);
        if (b.x == 0u) {
            break; // every list is spent (uniform over the subgroup)
        }
        if (subgroupElect()) {
            if (to_scratch) {
                scratch[base + 2u * r] = b.x;
                scratch[base + 2u * r + 1u] = b.y;
            } else {
                cand_idx[r] = b.y;
            }
        }
        nc = r + 1u;
        if (mk != 0u && mi == b.y) {
            list_ptr[ml]++;
            mk = 0u;
            mi = NONE;
            for (uint j = lane; j < nl; j += gl_SubgroupSize) {
                uvec2 h = list_head(j);
                if (better(h.x, h.y, mk, mi)) {
                    mk = h.x;
                    mi = h.y;
                    ml = j;
                }
            }
        }
    }
    if (subgroupElect()) {
        if (!to_scratch) {
            cand_n = nc;
        } else if (nc < pc.k) {
            scratch[base + 2u * nc] = 0u;
        }
    }
}

// pcg_hash is the PCG-based integer hash (Jarzynski and Olano, 2020);
// kernels.SampleU is its Go twin.
uint pcg_hash(uint v) {
    uint s = v * 747796405u + 2891336453u;
    uint w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

// weight is step 3 for logit v against the top logit m.
float weight(float v, float m) {
    if (is_nan(v) || v < -FLT_MAX) {
        return 0.0;
    }
    float d = min(v, FLT_MAX) - min(m, FLT_MAX);
    if (d == 0.0) {
        return 1.0;
    }
    float e = exp(d * pc.inv_t);
    return e >= FLT_MIN ? e : 0.0;
}

// finish runs steps 3 to 6 over the cand_n candidates in cand_idx and
// writes the token; all invocations must call it.
void finish() {
    barrier(); // cand_idx, cand_n complete
    uint nc = cand_n;
    float top = nc > 0u ? logits[cand_idx[0]] : 0.0;
    for (uint j = gl_LocalInvocationID.x; j < nc; j += gl_WorkGroupSize.x) {
        cand_e[j] = weight(logits[cand_idx[j]], top);
    }
    barrier();
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    uint seed = state[0];
    uint step = state[1];
    uint pick = NONE;
    // The best candidate -Inf or NaN: so is every logit, and there is no
    // token to pick (NONE, written as -1).
    if (nc > 0u && !is_nan(top) && !(isinf(top) && top < 0.0)) {
        pick = cand_idx[0];
    }
    if (nc > 0u && (pc.flags & 1u) == 0u && cand_e[0] > 0.0) {
        float thr = pc.min_p * cand_e[0];
        precise float z = 0.0;
        for (uint j = 0u; j < nc; j++) {
            float e = cand_e[j];
            if (e > 0.0 && e >= thr) {
                z += e;
            }
        }
        uint cut = nc;
        precise float zc = z;
        if (pc.top_p > 0.0 && pc.top_p < 1.0) {
            float target = pc.top_p * z;
            precise float acc = 0.0;
            for (uint j = 0u; j < nc; j++) {
                float e = cand_e[j];
                if (e > 0.0 && e >= thr) {
                    acc += e;
                    if (acc >= target) {
                        cut = j + 1u;
                        zc = acc;
                        break;
                    }
                }
            }
        }
        float u = float(pcg_hash(pcg_hash(seed) + step) >> 8u) * (1.0 / 16777216.0);
        float r = u * zc;
        precise float acc = 0.0;
        for (uint j = 0u; j < cut; j++) {
            float e = cand_e[j];
            if (e > 0.0 && e >= thr) {
                acc += e;
                pick = cand_idx[j];
                if (acc > r) {
                    break;
                }
            }
        }
    }
    uint at = pc.slot + (pc.ring > 0u ? step % pc.ring : 0u);
    tokens[at] = int(pick);
    if ((pc.flags & 2u) != 0u) {
        state[1] = step + 1u;
    }
#ifdef FEED
    ids[0] = int(pick);
    pos[0] += 1;
#endif
}

// best_below returns the best (key, index) of this invocation's elements
// of [start, end) that rank below bound. Indices rise, so ">" keeps the
// lowest index on ties.
uvec2 best_below(uint start, uint end, uvec2 bound) {
    uvec2 best = uvec2(0u, NONE);
    for (uint i = start + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) {
        uint k = order_key(logits[i]);
        if (k > best.x && better(bound.x, bound.y, k, i)) {
            best = uvec2(k, i);
        }
    }
    return best;
}

void main() {
    uint tid = gl_LocalInvocationID.x;
#ifdef MERGE
    // Copy the first pass's lists into shared memory, then merge them.
    uint groups = (pc.n + pc.per - 1u) / pc.per;
    for (uint e = tid; e < groups * pc.k; e += gl_WorkGroupSize.x) {
        uint at = (e / pc.k) * KMAX + e % pc.k;
        list_key[at] = scratch[2u * at];
        list_idx[at] = scratch[2u * at + 1u];
    }
    barrier();
    if (gl_SubgroupID == 0u) {
        merge_lists(groups, false, 0u);
    }
    finish();
#else
    uint start = gl_WorkGroupID.x * pc.per;
    uint end = min(pc.n, start + pc.per);
    uint list = gl_SubgroupID * KMAX;
    uvec2 mine = best_below(start, end, uvec2(0xffffffffu, 0u));
    for (uint r = 0u; r < pc.k; r++) {
        uvec2 b = subgroup_best(mine.x, mine.y);
        if (subgroupElect()) {
            list_key[list + r] = b.x;
            list_idx[list + r] = b.y;
        }
        if (b.x == 0u) {
            break; // fewer than k elements: the list ends with key 0
        }
        if (mine.y == b.y) {
            mine = best_below(start, end, b); // taken: the next of ours
        }
    }
    barrier();
    bool single = gl_NumWorkGroups.x == 1u;
    if (gl_SubgroupID == 0u) {
        merge_lists(gl_NumSubgroups, !single, 2u * KMAX * gl_WorkGroupID.x);
    }
    if (single) {
        finish();
    }
#endif
}

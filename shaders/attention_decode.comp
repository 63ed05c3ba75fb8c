#version 450
// Split-K attention for one query token (a decode step, T = 1) in one
// dispatch: the same result as attention.comp with SPLIT and T = 1 followed
// by attention_combine.comp, laid out so that each dependency chain is
// short. For the token at p = p0 = pos[0], kv head g, query rows
// h = g*G + r (r < G = nH/nKV) and split z a workgroup writes
//
//   m = max_j s_j,  l = Σ_j exp(s_j - m),  o = Σ_j exp(s_j - m) · v[j,g]
//   s_j = Scale · q[h]·k[j,g]
//
// over the split's keys j, to the scratch record of row h and split z;
// then the last workgroup of kv head g to finish merges the records of
// its G rows as attention_combine.comp does,
//
//   M = max_s m_s,  w_s = exp(m_s - M) (0 for a split without keys),
//   out[h] = Σ_s w_s o_s / Σ_s w_s l_s
//
// Key p0 comes from k, v (the chunk's only row); older ones from the
// caches, row j % Slots.
//
// Bindings:
//   0 q   f32 [1, nH*D]            readonly
//   1 k   f32 [1, nKV*D]           readonly
//   2 v   f32 [1, nKV*D]           readonly
//   3 ck  cache [Slots, nKV*D]     readonly: f16 pairs packed in uint words
//                                  (low half first), or f32 with CACHE_F32
//   4 cv  cache [Slots, nKV*D]     readonly, as ck
//   5 pos int32 [>= 1]             readonly: pos[0] = p0
//   6 scratch f32 [nH, Splits, D+2]: per (row h, split s) the max m, the
//         sum l and the unnormalized accumulator o[D]
//   7 arrivals uint32 [nKV]: zero before the dispatch, zero again after
//   8 out f32 [1, nH*D]
// Push: T (must be 1), nH, nKV, Slots, Window, Scale, Splits (<= MS).
// Spec: 0 workgroup size WG (subgroups of the device's size); 1 D (a
//   multiple of UW); 2 G = nH/nKV; 3 NU, units a lane holds per row (so
//   that NU * gl_SubgroupSize >= D/UW); 4 BC, the tile the key range is cut
//   in (attention.comp's BC, so that the splits are the same); 5 KB, keys a
//   subgroup loads at once; 6 NS, the most subgroups a workgroup can have;
//   7 MS, the most splits the last workgroup merges.
//
// PART (attention_decode_part_*): only the records, for
// attention_combine.comp to merge in a second dispatch (bindings 0-6,
// scratch write-only; no 7, 8).
//
// Keys: the token sees [lo, hi) = [max(0, p0+1-Window) (0 without window),
// p0+1), every key of it allowed; split z takes, as attention.comp,
// [lo + z·per, lo + (z+1)·per) ∩ [lo, hi) with per = ceil((hi-lo)/Splits)
// rounded up to BC. So the splits with keys are the first
// nz = ceil((hi-lo)/per) (at least 1: key p0 is always seen); a split past
// the keys returns at once (it is not counted in, and the merge reads the
// first nz records only), and with PART, for attention_combine, writes the
// empty record m = MASKED, l = 0, o = 0 first.
//
// Mapping: group (0, g, z). A unit is UW consecutive dims of a row (16
// bytes of the cache: 8 halves, or 4 floats with CACHE_F32); lane l of a
// subgroup owns units l, l + S, …, l + (NU-1)·S (S = gl_SubgroupSize) of
// every row, and holds its slices of the G query rows (times Scale) and of
// the G accumulators in registers. Subgroup s of n takes the split's keys
// lo + s, lo + s + n, …: per step it loads the units of KB keys and values
// at once (independent loads), forms each lane's partial dot per (key,
// row), sums the KB·G of them over the subgroup together (subgroup_sums)
// into the scores, and an online softmax folds them into the subgroup's
// running max, sum and accumulators (no shared memory, no barrier). Key
// p0 (f32) belongs to the subgroup the interleaving gives it, which folds
// it after its last step (its G scores summed together too). The first
// step's loads, key p0's, and with NORMROPE the raw query rows, gains and
// frequencies are all issued before any arithmetic on them (one memory
// round trip for the prologue).
// Finally each subgroup puts (m, l, o[D]) per row in shared memory, one
// barrier, and invocations over (row, 4-dim slice) merge the subgroups'
// records and write the scratch. Subgroup operations only ever run under
// subgroup-uniform conditions.
//
// Arrival and merge (not PART): every workgroup with keys makes its record
// stores visible device-wide (scratch is coherent, memoryBarrierBuffer),
// then, after a workgroup barrier, its first invocation adds 1 to
// arrivals[g]; the workgroup that reads nz - 1 there is the last of kv
// head g: every other one has stored its records and made them visible
// before its own add, so after a memoryBarrierBuffer
// the coherent loads of this one (which bypass any stale non-coherent
// cache) see them all. No workgroup waits for another (no spinning, no
// assumption on which workgroups run at once). The last one then:
//   1. per row r, one subgroup (r = sid, sid + nsub, …): its lanes load the
//      (m, l) of the nz splits with keys, four splits a lane at once, fold
//      them online, and subgroupMax / subgroupAdd give M and L = Σ w_s l_s;
//      the weights w_s go to shared memory (sh_w), L to sh_L. One barrier.
//   2. invocations over the G·D values (row, dim), four values apart by WG
//      at once, loop the nz splits eight at a time: 32 independent,
//      coalesced loads of o before their fmas (a few round trips to L2,
//      not one per split; the first round issued before step 1's loads),
//      and out = Σ w_s o_s / L. Splits past nz (no keys: most of them at
//      a short context, the split count being fixed by the cache size)
//      are not read.
//   3. invocation 0 sets arrivals[g] back to 0 for the next run (nobody
//      else touches it in this dispatch: the nz splits with keys have
//      arrived, the others never add; the next dispatch binding it comes
//      after a pipeline barrier).
// Shared memory: 4·NS·G·(D+2) + 4·G·(MS+1) bytes (the second term not with
// PART).
//
// NORMROPE (attention_decode_nr_*): the same attention from the raw
// projections, with the q/k norm, RoPE and the cache write of
// normrope.comp folded in (kernels.AttentionNormRopeVk), so that a decode
// step needs no normrope level before attention. q and k (bindings 0, 1)
// are then the products before RMSNorm; per row of D values
//   s = inversesqrt(mean_j(x[j]^2) + eps),  n[j] = x[j] * s * gain[j],
//   y[j] = n[j] cos th_j - n[j+D/2] sin th_j,  y[j+D/2] = n[j+D/2] cos th_j
//   + n[j] sin th_j,  th_j = float(p0) * inv[j]   (include/rope.glsl)
// with the products unfused as normrope.comp's. Every workgroup with keys
// does this for its G query rows: a lane loads its units and their
// partners (dims ± D/2, another unit of the row) straight from q, the
// sums of squares of the G rows and the key are summed over the subgroup
// together (subgroup_sums), and the angles of the lane's dims are
// computed once and serve the G rows and the key. The subgroup that folds
// key p0 computes its rotated key the same way, uses it (f32) as before,
// and writes it and v into cache row p0 % Slots (f16 pairs by
// packHalf2x16, round to nearest even, or f32), as normrope_cache does.
// Extra bindings: 9 q gain f32 [D], 10 k gain f32 [D], 11 inv f32 [D/2]
// (kernels.RoPEInvFreq; q and k share it); ck and cv become writable.
// Extra push word: eps (after Splits). Needs D a multiple of 2·UW, so that
// a unit's partner is a whole unit.
// Why writing the cache while other workgroups read it is safe: every
// workgroup reads cache rows j % Slots only for keys j in [lo, p0) with
// p0 - lo <= Window - 1 on a sliding layer (lo = p0 + 1 - Window) and
// p0 - lo = p0 on a global one (lo = 0). The row written, p0 % Slots, is
// read for key j only when p0 - j is a multiple of Slots, i.e. j <= p0 -
// Slots, which needs p0 - lo >= Slots: impossible when Slots >= Window
// (the sliding ring) or p0 < Slots (a global cache, or a sliding one
// shorter than its window, holds the whole context). Those are the
// conditions under which the cache write may precede attention at all
// (graph.Fuse's fuseCacheWrites, which the unfused decode already relies
// on); the chunk's own key is never read from the cache.
//! variant attention_decode_f16
//! variant attention_decode_f32 CACHE_F32
//! variant attention_decode_nr_f16 NORMROPE
//! variant attention_decode_nr_f32 NORMROPE CACHE_F32
//! variant attention_decode_part_f16 PART
//! variant attention_decode_part_f32 PART CACHE_F32
//! requires subgroup shuffle
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 256;
layout(constant_id = 2) const uint G = 2;
layout(constant_id = 3) const uint NU = 1;
layout(constant_id = 4) const uint BC = 16;
layout(constant_id = 5) const uint KB = 8;
layout(constant_id = 6) const uint NS = 4;
layout(constant_id = 7) const uint MS = 64;

// Scores per step (key b, row r at b*G + r), and that rounded up to a
// power of two (NSC <= 65536).
const uint NSC = KB * G;
const uint NP0 = NSC - 1u;
const uint NP1 = NP0 | (NP0 >> 1u);
const uint NP2 = NP1 | (NP1 >> 2u);
const uint NP3 = NP2 | (NP2 >> 4u);
const uint NP = (NP3 | (NP3 >> 8u)) + 1u;
// The prologue's norms (G query rows and the key: G + 1) and key p0's
// scores (G), rounded up to powers of two (G <= 255); NM, the most values
// subgroup_sums takes.
const uint NQ0 = G;
const uint NQ1 = NQ0 | (NQ0 >> 1u);
const uint NQ2 = NQ1 | (NQ1 >> 2u);
const uint NQP = (NQ2 | (NQ2 >> 4u)) + 1u;
const uint NG0 = G - 1u;
const uint NG1 = NG0 | (NG0 >> 1u);
const uint NG2 = NG1 | (NG1 >> 2u);
const uint NGP = (NG2 | (NG2 >> 4u)) + 1u;
const uint NM = NP > NQP ? NP : NQP;

#ifdef CACHE_F32
#define RAW vec4 // a unit as loaded from the cache
#define UV 1u    // vec4s per unit
#else
#define RAW uvec4
#define UV 2u
#endif
const uint UW = 4u * UV; // dims per unit
const uint U = D / UW;   // units per row
const uint NV = NU * UV; // vec4s a lane holds per row
const uint D4 = D / 4u;

// Score of nothing seen (as attention.glsl): finite, so that no infinity
// reaches exp.
#define MASKED (-3.0e38)

layout(binding = 0) readonly buffer Q { vec4 q4[]; };
layout(binding = 1) readonly buffer K { vec4 k4[]; };
layout(binding = 2) readonly buffer V { vec4 v4[]; };
#ifdef NORMROPE
layout(binding = 3) buffer CK { RAW ck4[]; };
layout(binding = 4) buffer CV { RAW cv4[]; };
#else
layout(binding = 3) readonly buffer CK { RAW ck4[]; };
layout(binding = 4) readonly buffer CV { RAW cv4[]; };
#endif
layout(binding = 5) readonly buffer Pos { int pos[]; };
#ifdef PART
layout(binding = 6) writeonly buffer Part { float part[]; };
#else
// Written by every workgroup, read by the last of each kv head: coherent.
layout(binding = 6) coherent buffer Part { float part[]; };
layout(binding = 7) coherent buffer Arrivals { uint arrivals[]; };
layout(binding = 8) writeonly buffer Out { float outp[]; };
#endif
#ifdef NORMROPE
layout(binding = 9) readonly buffer QG { vec4 qg4[]; };
layout(binding = 10) readonly buffer KG { vec4 kg4[]; };
layout(binding = 11) readonly buffer Inv { float inv[]; };
#endif

layout(push_constant) uniform Push {
    uint T;
    uint nH;
    uint nKV;
    uint slots;
    uint window;
    float scale;
    uint splits;
#ifdef NORMROPE
    float eps;
#endif
} pc;

#ifdef NORMROPE
#include "rope.glsl"
#endif

shared float sh_m[NS * G];   // per (subgroup, row): running max
shared float sh_l[NS * G];   // running sum
shared vec4 sh_o[NS * G * D4]; // accumulator
#ifndef PART
shared bool sh_last;     // this workgroup is the last of its kv head
shared float sh_w[G * MS]; // per (row, split): m_s, then the weight w_s
shared float sh_L[G];      // per row: Σ_s w_s l_s
#endif

// Per invocation. Index (r*NU + i)*UV + c: row r, the lane's i-th unit,
// its c-th vec4.
vec4 qr[G * NV];  // query slices, times Scale
vec4 acc[G * NV]; // unnormalized output slices
// Subgroup-uniform per row.
float row_m[G]; // running max (MASKED: no key yet)
float row_l[G]; // running sum of exp(s - m)
// One step's keys b < KB: units b*NU + i, scores b*G + r.
RAW kr[KB * NU];
RAW vr[KB * NU];
float sc[KB * G];

uint lane;
uint kvw;  // floats of a cache (or k, v) row: nKV*D
uint hoff; // D*g: the kv head's first dim in a row

// unit returns vec4 c of a raw unit as f32.
vec4 unit(RAW w, uint c) {
#ifdef CACHE_F32
    return w;
#else
    return c == 0u ? vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y))
                   : vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
#endif
}

// cache_load loads the units of the cache keys j0, j0 + stride, … (KB of
// them; zero for those >= end) into kr, vr, j0 being subgroup-uniform.
void cache_load(uint j0, uint stride, uint end) {
    [[unroll]] for (uint b = 0u; b < KB; b++) {
        uint j = j0 + b * stride;
        uint row = (j % pc.slots) * kvw + hoff;
        [[unroll]] for (uint i = 0u; i < NU; i++) {
            uint u = lane + i * gl_SubgroupSize;
            RAW kw = RAW(0), vw = RAW(0);
            if (j < end && u < U) {
                uint e = row / UW + u;
                kw = ck4[e];
                vw = cv4[e];
            }
            kr[b * NU + i] = kw;
            vr[b * NU + i] = vw;
        }
    }
}

// halve is one level of subgroup_sums' reduction: lanes whose bit d is
// set keep the upper m of the 2m values, the others the lower m, and each
// adds its partner's (lane ^ d) copy of the half it keeps.
void halve(inout float v[NM], uint m, uint d) {
    bool up = (lane & d) != 0u;
    [[unroll]] for (uint i = 0u; i < m; i++) {
        float keep = up ? v[m + i] : v[i];
        float give = up ? v[i] : v[m + i];
        v[i] = keep + subgroupShuffleXor(give, d);
    }
}

// subgroup_sums replaces v[i], i < n, by its sum over the subgroup, np
// being n rounded up to a power of two (v[n ... np) zero; both constant
// where it is called). The sums are formed together: a butterfly that
// halves the values a lane holds at each of its first log2(np) levels
// (np - 1 shuffles instead of n·log2(S)), leaving the sum of value k in
// lanes k·S/np ...; then a shuffle from there per value. One subgroupAdd
// per value (each a chain of log2(S) shuffles, chains the H100 ran one
// after the other: ~1.4 µs for a step's 8 scores) where np > S or np > 64.
void subgroup_sums(inout float v[NM], uint n, uint np) {
    uint S = gl_SubgroupSize;
    if (np > S || np > 64u) {
        [[unroll]] for (uint i = 0u; i < n; i++) {
            v[i] = subgroupAdd(v[i]);
        }
        return;
    }
    uint d = S >> 1;
    if (np >= 64u) { halve(v, 32u, d); d >>= 1; }
    if (np >= 32u) { halve(v, 16u, d); d >>= 1; }
    if (np >= 16u) { halve(v, 8u, d); d >>= 1; }
    if (np >= 8u) { halve(v, 4u, d); d >>= 1; }
    if (np >= 4u) { halve(v, 2u, d); d >>= 1; }
    if (np >= 2u) { halve(v, 1u, d); d >>= 1; }
    float t = v[0];
    for (; d > 0u; d >>= 1) {
        t += subgroupShuffleXor(t, d);
    }
    uint span = S / np;
    [[unroll]] for (uint k = 0u; k < n; k++) {
        v[k] = subgroupShuffle(t, k * span);
    }
}

// cache_fold folds the keys cache_load loaded for the same j0, stride and
// end into the subgroup's rows.
void cache_fold(uint j0, uint stride, uint end) {
    // The lane's parts of every key's scores (a key past the end has zero
    // units), then their sums together.
    float v[NM];
    [[unroll]] for (uint b = 0u; b < KB; b++) {
        [[unroll]] for (uint r = 0u; r < G; r++) {
            float d = 0.0;
            [[unroll]] for (uint i = 0u; i < NU; i++) {
                [[unroll]] for (uint c = 0u; c < UV; c++) {
                    d += dot(qr[(r * NU + i) * UV + c], unit(kr[b * NU + i], c));
                }
            }
            v[b * G + r] = d;
        }
    }
    [[unroll]] for (uint i = NSC; i < NM; i++) {
        v[i] = 0.0;
    }
    subgroup_sums(v, NSC, NP);
    [[unroll]] for (uint b = 0u; b < KB; b++) {
        bool live = j0 + b * stride < end; // subgroup-uniform
        [[unroll]] for (uint r = 0u; r < G; r++) {
            sc[b * G + r] = live ? v[b * G + r] : MASKED;
        }
    }
    [[unroll]] for (uint r = 0u; r < G; r++) {
        float mx = row_m[r];
        [[unroll]] for (uint b = 0u; b < KB; b++) {
            mx = max(mx, sc[b * G + r]);
        }
        if (mx == MASKED) {
            continue; // no key in this step, nor before
        }
        float alpha = row_m[r] == MASKED ? 0.0 : exp(row_m[r] - mx);
        float sum = 0.0;
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            acc[r * NV + n] *= alpha;
        }
        [[unroll]] for (uint b = 0u; b < KB; b++) {
            float s = sc[b * G + r];
            float p = s == MASKED ? 0.0 : exp(s - mx);
            sum += p;
            [[unroll]] for (uint i = 0u; i < NU; i++) {
                [[unroll]] for (uint c = 0u; c < UV; c++) {
                    uint n = (r * NU + i) * UV + c;
                    acc[n] = fma(vec4(p), unit(vr[b * NU + i], c), acc[n]);
                }
            }
        }
        row_m[r] = mx;
        row_l[r] = row_l[r] * alpha + sum;
    }
}

// Prefetched units of the chunk's own key p0 (f32 k, v row 0), for the one
// subgroup that folds it.
vec4 kf[NV];
vec4 vf[NV];

#ifdef NORMROPE
// The cos and sin of the angles of the lane's dims at p0, per vec4 n =
// i*UV + c as qr's; the sin negated for the first half of the row, so that
// every dim is y = n·rc + partner·rs.
vec4 rc[NV];
vec4 rs[NV];

// inv_load loads the inverse frequencies of the lane's dims into iv, per
// vec4 n = i*UV + c as rc's (its first half's pair for the second half).
void inv_load(out vec4 iv[NV]) {
    [[unroll]] for (uint i = 0u; i < NU; i++) {
        uint u = lane + i * gl_SubgroupSize;
        [[unroll]] for (uint c = 0u; c < UV; c++) {
            vec4 f = vec4(0.0);
            if (u < U) {
                uint j0 = (u * UV + c) * 4u - (u < U / 2u ? 0u : D / 2u);
                f = vec4(inv[j0], inv[j0 + 1u], inv[j0 + 2u], inv[j0 + 3u]);
            }
            iv[i * UV + c] = f;
        }
    }
}

// angles fills rc, rs for position p from inv_load's iv.
void angles(int p, vec4 iv[NV]) {
    [[unroll]] for (uint i = 0u; i < NU; i++) {
        uint u = lane + i * gl_SubgroupSize;
        [[unroll]] for (uint c = 0u; c < UV; c++) {
            vec4 co = vec4(1.0), si = vec4(0.0);
            if (u < U) {
                bool first = u < U / 2u;
                [[unroll]] for (uint t = 0u; t < 4u; t++) {
                    vec2 cs = rope_angle(p, iv[i * UV + c][t]);
                    co[t] = cs.x;
                    si[t] = first ? -cs.y : cs.y;
                }
            }
            rc[i * UV + c] = co;
            rs[i * UV + c] = si;
        }
    }
}

// Sources of row_load.
const uint SRC_Q = 0u, SRC_K = 1u, SRC_QG = 2u, SRC_KG = 3u;

// row_load loads what the norm and rotation of one row read: of the row
// of q (SRC_Q) or k (SRC_K) starting at vec4 row4, the lane's units (xs)
// and their partners, dims ± D/2 (xp), zero past the row; or the norm
// gains of q or k (SRC_QG, SRC_KG; row4 0) the same way.
void row_load(uint src, uint row4, out vec4 xs[NV], out vec4 xp[NV]) {
    const uint H4 = D4 / 2u; // vec4s of half a row
    [[unroll]] for (uint i = 0u; i < NU; i++) {
        uint u = lane + i * gl_SubgroupSize;
        [[unroll]] for (uint c = 0u; c < UV; c++) {
            uint n = i * UV + c;
            xs[n] = vec4(0.0);
            xp[n] = vec4(0.0);
            if (u < U) {
                uint e = row4 + u * UV + c;
                uint ep = u < U / 2u ? e + H4 : e - H4;
                switch (src) {
                case SRC_Q: xs[n] = q4[e]; xp[n] = q4[ep]; break;
                case SRC_K: xs[n] = k4[e]; xp[n] = k4[ep]; break;
                case SRC_QG: xs[n] = qg4[e]; xp[n] = qg4[ep]; break;
                default: xs[n] = kg4[e]; xp[n] = kg4[ep]; break;
                }
            }
        }
    }
}

// sumsq returns the lane's part of the sum of squares of a row (row_load's
// xs).
float sumsq(vec4 xs[NV]) {
    float ss = 0.0;
    [[unroll]] for (uint n = 0u; n < NV; n++) {
        ss += dot(xs[n], xs[n]);
    }
    return ss;
}

// normrope returns in y the lane's units of the row xs, xp (row_load's),
// scaled by s = inversesqrt(mean of its squares + eps), times the gains
// gs, gp (row_load's too), and rotated (zero for units past the row).
void normrope(vec4 xs[NV], vec4 xp[NV], vec4 gs[NV], vec4 gp[NV], float s, out vec4 y[NV]) {
    [[unroll]] for (uint n = 0u; n < NV; n++) {
        // Each product rounded, no fused multiply-add, as normrope.comp
        // and the reference (zero past the row, where x and the gains are).
        precise vec4 a = xs[n] * s * gs[n];
        precise vec4 b = xp[n] * s * gp[n];
        precise vec4 r = a * rc[n] + b * rs[n];
        y[n] = r;
    }
}

// pack returns the cache unit of a unit's UV vec4s x0 (and x1 with f16
// caches).
RAW pack(vec4 x0, vec4 x1) {
#ifdef CACHE_F32
    return x0;
#else
    return uvec4(packHalf2x16(x0.xy), packHalf2x16(x0.zw), packHalf2x16(x1.xy), packHalf2x16(x1.zw));
#endif
}
#endif

// load_own loads the lane's units of key p0's value into vf, and of its
// key into kf (without NORMROPE; with it the raw key, for own_key).
void load_own() {
    [[unroll]] for (uint i = 0u; i < NU; i++) {
        uint u = lane + i * gl_SubgroupSize;
        [[unroll]] for (uint c = 0u; c < UV; c++) {
            vec4 kx = vec4(0.0), vx = vec4(0.0);
            if (u < U) {
                uint e = hoff / 4u + u * UV + c;
#ifndef NORMROPE
                kx = k4[e];
#endif
                vx = v4[e];
            }
#ifndef NORMROPE
            kf[i * UV + c] = kx;
#endif
            vf[i * UV + c] = vx;
        }
    }
}

#ifdef NORMROPE
// own_key normalizes (scale s) and rotates key p0 (ks, kp, with the gains
// gs, gp: row_load's) into kf and writes key and value into cache row
// p0 % Slots.
void own_key(uint p0, vec4 ks[NV], vec4 kp[NV], vec4 gs[NV], vec4 gp[NV], float s) {
    normrope(ks, kp, gs, gp, s, kf);
    [[unroll]] for (uint i = 0u; i < NU; i++) {
        uint u = lane + i * gl_SubgroupSize;
        if (u < U) {
            uint e = ((p0 % pc.slots) * kvw + hoff) / UW + u;
            uint n = i * UV;
            ck4[e] = pack(kf[n], kf[n + UV - 1u]);
            cv4[e] = pack(vf[n], vf[n + UV - 1u]);
        }
    }
}
#endif

// fold_own folds key p0 (kf, vf) into the subgroup's rows.
void fold_own() {
    float v[NM];
    [[unroll]] for (uint r = 0u; r < G; r++) {
        float d = 0.0;
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            d += dot(qr[r * NV + n], kf[n]);
        }
        v[r] = d;
    }
    [[unroll]] for (uint i = G; i < NM; i++) {
        v[i] = 0.0;
    }
    subgroup_sums(v, G, NGP);
    [[unroll]] for (uint r = 0u; r < G; r++) {
        float s = v[r];
        float mx = max(row_m[r], s);
        float alpha = row_m[r] == MASKED ? 0.0 : exp(row_m[r] - mx);
        float p = exp(s - mx);
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            acc[r * NV + n] = fma(vec4(p), vf[n], acc[r * NV + n] * alpha);
        }
        row_m[r] = mx;
        row_l[r] = row_l[r] * alpha + p;
    }
}

// attend computes the records of split z (keys [lo, hi), not empty) of kv
// head g and writes them to the scratch.
void attend(uint g, uint z, uint p0, uint lo, uint hi) {
    // Subgroup s takes keys lo + s, lo + s + nsub, …: the cache keys below
    // p0 in steps of KB, then key p0 (T = 1: the chunk's only key) if the
    // split has it.
    uint sid = gl_SubgroupID;
    uint nsub = gl_NumSubgroups;
    bool own = p0 < hi && sid == (p0 - lo) % nsub; // lo <= p0 here
    uint cend = min(hi, p0); // cache keys: [lo, cend)

    // Every load of the prologue is issued before any arithmetic on what
    // it loads: the first step's keys and values, key p0's units and, with
    // NORMROPE, the raw query rows, the gains and the frequencies. One
    // memory round trip, not one per stage.
    cache_load(lo + sid, nsub, cend);
#ifdef NORMROPE
    vec4 ks[NV], kp[NV], kgs[NV], kgp[NV];
    if (own) {
        row_load(SRC_K, hoff / 4u, ks, kp);
        row_load(SRC_KG, 0u, kgs, kgp);
    }
#endif
    if (own) {
        load_own();
    }
#ifdef NORMROPE
    vec4 iv[NV];
    inv_load(iv);
    vec4 qgs[NV], qgp[NV];
    row_load(SRC_QG, 0u, qgs, qgp);
    vec4 qs[G * NV], qp[G * NV]; // row r's at r*NV + n
    [[unroll]] for (uint r = 0u; r < G; r++) {
        vec4 a[NV], b[NV];
        row_load(SRC_Q, (g * G + r) * D4, a, b); // row h = g*G + r of q
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            qs[r * NV + n] = a[n];
            qp[r * NV + n] = b[n];
        }
    }
    angles(int(p0), iv);
    // The norms' sums of squares, of the G query rows and of the key (0 but
    // in the subgroup that holds it), summed over the subgroup together.
    float ns[NM];
    [[unroll]] for (uint r = 0u; r < G; r++) {
        vec4 a[NV];
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            a[n] = qs[r * NV + n];
        }
        ns[r] = sumsq(a);
    }
    ns[G] = 0.0;
    if (own) {
        ns[G] = sumsq(ks);
    }
    [[unroll]] for (uint i = G + 1u; i < NM; i++) {
        ns[i] = 0.0;
    }
    subgroup_sums(ns, G + 1u, NQP);
#endif
    [[unroll]] for (uint r = 0u; r < G; r++) {
#ifdef NORMROPE
        vec4 a[NV], b[NV], y[NV];
        [[unroll]] for (uint n = 0u; n < NV; n++) {
            a[n] = qs[r * NV + n];
            b[n] = qp[r * NV + n];
        }
        normrope(a, b, qgs, qgp, inversesqrt(ns[r] / float(D) + pc.eps), y);
#else
        uint qrow = (g * G + r) * D4; // row h = g*G + r of q, in vec4s
#endif
        [[unroll]] for (uint i = 0u; i < NU; i++) {
            uint u = lane + i * gl_SubgroupSize;
            [[unroll]] for (uint c = 0u; c < UV; c++) {
                uint n = (r * NU + i) * UV + c;
#ifdef NORMROPE
                qr[n] = y[i * UV + c] * pc.scale;
#else
                qr[n] = u < U ? q4[qrow + u * UV + c] * pc.scale : vec4(0.0);
#endif
                acc[n] = vec4(0.0);
            }
        }
        row_m[r] = MASKED;
        row_l[r] = 0.0;
    }
#ifdef NORMROPE
    if (own) {
        own_key(p0, ks, kp, kgs, kgp, inversesqrt(ns[G] / float(D) + pc.eps));
    }
#endif

    for (uint j0 = lo; j0 < cend; j0 += nsub * KB) {
        if (j0 != lo) {
            cache_load(j0 + sid, nsub, cend);
        }
        cache_fold(j0 + sid, nsub, cend);
    }
    if (own) {
        fold_own();
    }

    // Merge the subgroups' records.
    if (subgroupElect()) {
        [[unroll]] for (uint r = 0u; r < G; r++) {
            sh_m[sid * G + r] = row_m[r];
            sh_l[sid * G + r] = row_l[r];
        }
    }
    [[unroll]] for (uint r = 0u; r < G; r++) {
        [[unroll]] for (uint i = 0u; i < NU; i++) {
            uint u = lane + i * gl_SubgroupSize;
            if (u < U) {
                [[unroll]] for (uint c = 0u; c < UV; c++) {
                    sh_o[(sid * G + r) * D4 + u * UV + c] = acc[(r * NU + i) * UV + c];
                }
            }
        }
    }
    barrier();
    const uint rec = D + 2u;
    for (uint cell = gl_LocalInvocationID.x; cell < G * D4; cell += gl_WorkGroupSize.x) {
        uint r = cell / D4;
        uint x = cell - r * D4;
        float m = MASKED;
        for (uint s = 0u; s < nsub; s++) {
            m = max(m, sh_m[s * G + r]);
        }
        float l = 0.0;
        vec4 o = vec4(0.0);
        for (uint s = 0u; s < nsub; s++) {
            float ms = sh_m[s * G + r];
            float w = ms == MASKED ? 0.0 : exp(ms - m);
            l += w * sh_l[s * G + r];
            o += w * sh_o[(s * G + r) * D4 + x];
        }
        uint base = ((g * G + r) * pc.splits + z) * rec;
        if (x == 0u) {
            part[base] = m;
            part[base + 1u] = l;
        }
        uint e = base + 2u + 4u * x;
        part[e] = o.x;
        part[e + 1u] = o.y;
        part[e + 2u] = o.z;
        part[e + 3u] = o.w;
    }
}

#ifndef PART
// Values of out a tail invocation takes at once, and splits per round.
const uint TV = 4u;
const uint TS = 8u;

// out_load loads the records' o of values v0, v0 + WG, … (TV of them, the
// last repeated past G·D) of kv head g's rows in splits s0 ... s0 + TS - 1,
// 0 past nz: o[t*TS + u] is value t's in split s0 + u.
void out_load(uint g, uint v0, uint s0, uint nz, out float o[TV * TS]) {
    const uint rec = D + 2u;
    uint rstride = pc.splits * rec;
    [[unroll]] for (uint t = 0u; t < TV; t++) {
        uint v = min(v0 + t * gl_WorkGroupSize.x, G * D - 1u);
        uint r = v / D;
        uint ob = (g * G + r) * rstride + 2u + (v - r * D); // its o in split 0
        [[unroll]] for (uint u = 0u; u < TS; u++) {
            uint s = s0 + u;
            o[t * TS + u] = s < nz ? part[ob + s * rec] : 0.0;
        }
    }
}

// finish counts the workgroup in for kv head g and, in the last one to
// arrive, merges the nz splits with keys of its G rows into out (see the
// header). Called by every invocation, under uniform control flow.
void finish(uint g, uint nz) {
    memoryBarrierBuffer(); // this invocation's records, visible device-wide
    barrier();             // … for every invocation, before the count
    if (gl_LocalInvocationIndex == 0u) {
        sh_last = atomicAdd(arrivals[g], 1u) == nz - 1u;
    }
    barrier();
    if (!sh_last) { // workgroup-uniform
        return;
    }
    memoryBarrierBuffer();
    // Step 2's first loads are issued before step 1's, which they do not
    // depend on: one round trip to L2 for both.
    float o0[TV * TS];
    out_load(g, gl_LocalInvocationIndex, 0u, nz, o0);

    const uint rec = D + 2u;
    uint rstride = pc.splits * rec; // floats of a row's records
    uint S = gl_SubgroupSize;
    // 1. Per row: M, L and the weights.
    for (uint r = gl_SubgroupID; r < G; r += gl_NumSubgroups) { // subgroup-uniform
        uint base = (g * G + r) * rstride;
        float lm = MASKED; // the lane's running max and sum
        float ll = 0.0;
        for (uint s0 = 0u; s0 < nz; s0 += 4u * S) {
            float ms[4], ls[4];
            [[unroll]] for (uint u = 0u; u < 4u; u++) {
                uint s = s0 + u * S + lane;
                ms[u] = MASKED;
                ls[u] = 0.0;
                if (s < nz) {
                    ms[u] = part[base + s * rec];
                    ls[u] = part[base + s * rec + 1u];
                }
            }
            float mx = lm;
            [[unroll]] for (uint u = 0u; u < 4u; u++) {
                uint s = s0 + u * S + lane;
                if (s < nz) {
                    sh_w[r * MS + s] = ms[u];
                }
                mx = max(mx, ms[u]);
            }
            if (mx != MASKED) {
                float sum = lm == MASKED ? 0.0 : ll * exp(lm - mx);
                [[unroll]] for (uint u = 0u; u < 4u; u++) {
                    sum += ms[u] == MASKED ? 0.0 : ls[u] * exp(ms[u] - mx);
                }
                lm = mx;
                ll = sum;
            }
        }
        float M = subgroupMax(lm);
        float L = subgroupAdd(lm == MASKED ? 0.0 : ll * exp(lm - M));
        for (uint s = lane; s < nz; s += S) { // the lane's own entries
            float m = sh_w[r * MS + s];
            sh_w[r * MS + s] = m == MASKED ? 0.0 : exp(m - M);
        }
        if (subgroupElect()) {
            sh_L[r] = L;
        }
    }
    barrier();

    // 2. out = Σ_s w_s o_s / L over values v = (row, dim) of the kv head.
    uint WG = gl_WorkGroupSize.x;
    for (uint v0 = gl_LocalInvocationIndex; v0 < G * D; v0 += TV * WG) {
        uint rr[TV]; // row
        float a[TV];
        [[unroll]] for (uint t = 0u; t < TV; t++) {
            rr[t] = min(v0 + t * WG, G * D - 1u) / D;
            a[t] = 0.0;
        }
        for (uint s0 = 0u; s0 < nz; s0 += TS) {
            float o[TV * TS];
            if (v0 == gl_LocalInvocationIndex && s0 == 0u) {
                o = o0;
            } else {
                out_load(g, v0, s0, nz, o);
            }
            [[unroll]] for (uint t = 0u; t < TV; t++) {
                [[unroll]] for (uint u = 0u; u < TS; u++) {
                    float w = sh_w[rr[t] * MS + min(s0 + u, nz - 1u)]; // times 0 past nz
                    a[t] = fma(w, o[t * TS + u], a[t]);
                }
            }
        }
        [[unroll]] for (uint t = 0u; t < TV; t++) {
            uint v = v0 + t * WG;
            if (v < G * D) {
                outp[g * G * D + v] = a[t] / sh_L[rr[t]];
            }
        }
    }
    if (gl_LocalInvocationIndex == 0u) {
        arrivals[g] = 0u;
    }
}
#endif

void main() {
    uint g = gl_WorkGroupID.y;
    uint z = gl_WorkGroupID.z;
    uint p0 = uint(pos[0]);
    lane = gl_SubgroupInvocationID;
    kvw = pc.nKV * D;
    hoff = g * D;

    // The split's keys, as attention.comp cuts them for T = 1.
    uint lo = (pc.window > 0u && p0 + 1u > pc.window) ? p0 + 1u - pc.window : 0u;
    uint hi = p0 + 1u;
    uint per = ((hi - lo + pc.splits - 1u) / pc.splits + BC - 1u) / BC * BC;
    uint nz = (hi - lo + per - 1u) / per; // splits with keys
    lo = min(hi, lo + z * per);
    hi = min(hi, lo + per);

    if (lo == hi) {
#ifdef PART
        // No key: the empty record (MASKED, 0, 0, …) per row, for
        // attention_combine.
        const uint rec = D + 2u;
        for (uint cell = gl_LocalInvocationID.x; cell < G * rec; cell += gl_WorkGroupSize.x) {
            uint r = cell / rec;
            uint x = cell - r * rec;
            part[((g * G + r) * pc.splits + z) * rec + x] = x == 0u ? MASKED : 0.0;
        }
#endif
        return; // folded: only the nz splits with keys count in
    }
    attend(g, z, p0, lo, hi);
#ifndef PART
    finish(g, nz);
#endif
}

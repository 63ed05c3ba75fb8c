#version 450
// Attention of a chunk of T query tokens (prefill) on cooperative matrices
// (tensor cores): the same attention, bindings and push block as
// attention.comp (see its header for the mask and where keys come from),
//
//   out[t,h] = Σ_j softmax_j(Scale · q[t,h]·k[j,g]) · v[j,g],  g = h / (nH/nKV)
//
// with q·Scale, k and v rounded to f16 (clamped to ±65504) as they are
// staged, the probabilities rounded to f16 for P·V, and every sum in f32
// (16x16x16 f16 products, f32 accumulators, subgroup scope).
//
// Bindings:
//   0 q   f32 [T, nH*D]            readonly
//   1 k   f32 [T, nKV*D]           readonly
//   2 v   f32 [T, nKV*D]           readonly
//   3 ck  cache [Slots, nKV*D]     readonly: f16 pairs packed in uint words
//                                  (low half first), or f32 with CACHE_F32
//   4 cv  cache [Slots, nKV*D]     readonly, as ck
//   5 pos int32 [>= 1]             readonly: pos[0] = p0
//   6 out f32 [T, nH*D]; with SPLIT the scratch f32 [T*nH, Splits, D+2]:
//         per (row r = t*nH + h, split s) the reference max m, the sum l
//         and the unnormalized accumulator o[D] (attention_combine.comp)
//   7 spans int32 [T]              readonly, SPANS only (0 = text)
// Push: T, nH, nKV, Slots, Window, Scale, Splits (Splits only read by SPLIT).
// Spec: 0 workgroup size WG = 4 subgroups (gl_NumSubgroups must be 4, the
// subgroup size at least 16); 1 D, a multiple of 16.
// Mapping: group (x, y, z) = (row block, kv head g, split). The
// T*(nH/nKV) query rows of kv head g, r = t*(nH/nKV) + (h - g*(nH/nKV)),
// are cut into blocks of BR = 32; a block streams the keys [lo, hi) its
// rows may see (as attention.comp) in tiles of BC = 32 keys; SPLIT cuts
// that range into Splits runs of whole tiles, one per z, as
// attention.comp does. Subgroup sg has rb = sg & 1, cb = sg >> 1: it
// owns the block rows [16rb, 16rb+16) and the 16-column blocks n of D
// with n % 2 == cb of their outputs (NACC f32 accumulators).
// It keeps its rows' queries as ND = D/16 f16 A fragments in registers and
// computes the full 16 x BC scores of its rows itself (the two subgroups
// of a row half compute the same scores), so the scores, the softmax and
// the probabilities P stay private to the subgroup: they pass through its
// own slices of ss and ps with subgroup barriers only. The softmax gives
// each of the 16 rows TPR = gl_SubgroupSize/16 consecutive lanes, CPT =
// BC/TPR keys each.
//
// Per tile (two workgroup barriers):
//   store the tile's prefetched keys and values into ks and vs (f16), load
//   and store the rest                                    barrier
//   load the first keys and values of the next tile into registers
//   per subgroup: S = Q·Kᵀ (Kᵀ: column-major load of ks) into its ss slice;
//   softmax: mask, running max m and sum l per row, P = exp(s - m) into its
//   ps slice as f16; rescale the accumulators when a row's m moved;
//   O += P·V                                              barrier
// A row's reference max m moves only when the tile's max passes it by more
// than THRESH, so P <= e^THRESH stays well inside f16 and the accumulators
// (whose rows can only be scaled through shared memory) are rescaled only
// when a subgroup's row needs it, rarely after the first tiles. The result
// O/l does not depend on m. Masked scores are the finite MASKED, as in
// attention.glsl. Rows past T*(nH/nKV) have zero queries and see no key;
// they are not written. Keys past hi are staged as zeros and masked.
//
// Shared memory: ks, vs 2·2·BC·(D+8) + ss 4·4·16·(BC+4) + ps 2·4·16·(BC+8)
// + 2·4·4·16 bytes: 48640 for D = 256, 32256 for D = 128
// (kernels.attnCoopShared). Row strides are multiples of 16 bytes, as
// coopMatLoad/Store need. The queries are staged once in ks before the
// tiles; after a tile's softmax, a subgroup's ss slice doubles as its
// 16 x 16 f32 staging tile (rescale, output).
//
// SPLIT writes, per valid row, the record of attention_combine instead of
// O/l: m is the row's reference max (the exponent reference of its l and
// o, which the merge's exp(m_s - M) needs, not the tile maxima), l its sum
// and o the f32 accumulators as they are. A row that saw no allowed key
// in its split writes the empty record m = MASKED, l = 0, o = 0 exactly.
// A split without keys (lo == hi) writes its empty records and returns
// before the queries. No shared memory beyond the unsplit kernel's: row_a
// holds each row's m at the end.
//! variant attention_coop_f16
//! variant attention_coop_f16_spans SPANS
//! variant attention_coop_f32 CACHE_F32
//! variant attention_coop_f32_spans CACHE_F32 SPANS
//! variant attention_coop_split_f16 SPLIT
//! variant attention_coop_split_f32 SPLIT CACHE_F32
//! requires coopmat shuffle
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint D = 256;

layout(binding = 0) readonly buffer Q { vec4 q4[]; };
layout(binding = 1) readonly buffer K { vec4 k4[]; };
layout(binding = 2) readonly buffer V { vec4 v4[]; };
#ifdef CACHE_F32
layout(binding = 3) readonly buffer CK { vec4 ck4[]; };
layout(binding = 4) readonly buffer CV { vec4 cv4[]; };
#else
layout(binding = 3) readonly buffer CK { uvec2 ck2[]; }; // 4 halves
layout(binding = 4) readonly buffer CV { uvec2 cv2[]; };
#endif
layout(binding = 5) readonly buffer Pos { int pos[]; };
#ifdef SPLIT
layout(binding = 6) writeonly buffer Out { vec2 out2[]; }; // records of D+2 floats, D even
#else
layout(binding = 6) writeonly buffer Out { vec4 out4[]; };
#endif
#ifdef SPANS
layout(binding = 7) readonly buffer Spans { int spans[]; };
#endif

layout(push_constant) uniform Push {
    uint T;
    uint nH;
    uint nKV;
    uint slots;
    uint window;
    float scale;
    uint splits;
} pc;

const uint WG = gl_WorkGroupSize.x;
const uint NS = 4u;                 // subgroups
const uint BR = 32u;                // rows per block
const uint BC = 32u;                // keys per tile
const uint SQ4 = (D + 8u) / 4u;     // f16vec4 row stride of ks and vs
const uint SS = BC + 4u;            // f32 row stride of an ss slice
const uint SP4 = (BC + 8u) / 4u;    // f16vec4 row stride of a ps slice
const uint D4 = D / 4u;             // vec4 per head row
const uint ND = D / 16u;            // 16-column blocks of D
const uint NACC = (ND + 1u) / 2u;   // accumulators per subgroup
const uint TPR = WG / (NS * 16u);   // softmax lanes per row (subgroup / 16)
const uint CPT = BC / TPR;          // keys per softmax lane
const float F16_MAX = 65504.0;
const float THRESH = 8.0;           // e^8 ≈ 2981

// Score of a key a row may not see (as attention.glsl).
#define MASKED (-3.0e38)

shared f16vec4 ks[BC * SQ4];        // the tile's keys (first the queries)
shared f16vec4 vs[BC * SQ4];        // the tile's values
shared float ss[NS * 16u * SS];     // per subgroup: scores, then staging
shared f16vec4 ps[NS * 16u * SP4];  // per subgroup: probabilities
shared float row_a[NS * 16u];       // the tile's rescale of each row (1: none); SPLIT: at the end, its m
shared float row_l[NS * 16u];       // each row's final sum

#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>

uint p0;       // position of the chunk's first token
uint grp;      // query heads per kv head
uint row0;     // first block row
uint nrows;    // rows of this kv head: T * grp

// row_index is the row t*nH + h of q and out of block row i, which must be
// valid.
uint row_index(uint i, uint g) {
    uint r = row0 + i;
    uint t = r / grp;
    uint h = g * grp + (r - t * grp);
    return t * pc.nH + h;
}

// kv_at is vec4 w of key (or value) j of kv head g as f16, zero from
// key_end on.
f16vec4 kv_at(uint j, uint w, uint g, uint key_end, bool values) {
    vec4 x = vec4(0.0);
    if (j < key_end) {
        if (j >= p0) {
            uint at = (j - p0) * (pc.nKV * D4) + g * D4 + w;
            x = clamp(values ? v4[at] : k4[at], -F16_MAX, F16_MAX);
        } else {
            uint at = (j % pc.slots) * (pc.nKV * D4) + g * D4 + w;
#ifdef CACHE_F32
            x = clamp(values ? cv4[at] : ck4[at], -F16_MAX, F16_MAX);
#else
            uvec2 h = values ? cv2[at] : ck2[at];
            x = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#endif
        }
    }
    return f16vec4(x);
}

// A thread's share of a tile is vec4 e = lid + i*WG, i < LT, of its keys
// and of its values. The first NPF (all of them for D <= 128) of the next
// tile are loaded into registers before the current tile's products and
// stored after them; the rest are loaded at the start of the tile in
// batches of LB keys and LB values in flight at once.
const uint LT = (BC * D4 + WG - 1u) / WG;
const uint NPF = LT < 8u ? LT : 8u;
const uint LB = 4u;

// kv_entry is entry i of this thread's share of the tile at j0 (keys or
// values); past the tile (e >= BC*D4) it is a later key or zero: the load
// stays in bounds and is not stored.
f16vec4 kv_entry(uint i, uint j0, uint g, uint key_end, bool values) {
    uint e = gl_LocalInvocationID.x + i * WG;
    uint c = e / D4;
    return kv_at(j0 + c, e - c * D4, g, key_end, values);
}

// put_entry stores entry i of the thread's share into ks and vs.
void put_entry(uint i, f16vec4 k, f16vec4 v) {
    uint e = gl_LocalInvocationID.x + i * WG;
    if (e < BC * D4) {
        uint c = e / D4;
        uint at = c * SQ4 + (e - c * D4);
        ks[at] = k;
        vs[at] = v;
    }
}

// stage_rest puts entries NPF .. LT-1 of the tile at j0 into ks and vs.
void stage_rest(uint j0, uint g, uint key_end) {
    [[unroll]] for (uint i0 = NPF; i0 < LT; i0 += LB) {
        f16vec4 kr[LB];
        f16vec4 vr[LB];
        [[unroll]] for (uint i = 0u; i < LB; i++) {
            kr[i] = kv_entry(i0 + i, j0, g, key_end, false);
            vr[i] = kv_entry(i0 + i, j0, g, key_end, true);
        }
        [[unroll]] for (uint i = 0u; i < LB; i++) {
            put_entry(i0 + i, kr[i], vr[i]);
        }
    }
}

void main() {
    uint g = gl_WorkGroupID.y;
    p0 = uint(pos[0]);
    grp = pc.nH / pc.nKV;
    nrows = pc.T * grp;
    row0 = gl_WorkGroupID.x * BR;

    uint sg = gl_SubgroupID;
    uint lane = gl_SubgroupInvocationID;
    uint rb = sg & 1u;
    uint cb = sg >> 1u;
    uint sbase = sg * 16u * SS;   // this subgroup's slice of ss
    uint pbase = sg * 16u * SP4;  // and of ps
    uint abase = sg * 16u;        // and of row_a, row_l

    // Keys the block's rows may see (attention.comp).
    uint p_first = p0 + row0 / grp;
    uint p_last = p0 + (min(row0 + BR, nrows) - 1u) / grp;
    uint lo = (pc.window > 0u && p_first + 1u > pc.window) ? p_first + 1u - pc.window : 0u;
    uint hi = p_last + 1u;
#ifdef SPANS
    hi = p0 + pc.T;
#endif
#ifdef SPLIT
    // This split's run of whole tiles (attention.comp).
    uint per = ((hi - lo + pc.splits - 1u) / pc.splits + BC - 1u) / BC * BC;
    lo = min(hi, lo + gl_WorkGroupID.z * per);
    hi = min(hi, lo + per);
#endif
    uint key_end = hi;
#ifdef SPLIT
    // A split without keys (lo, hi are uniform): the empty record for
    // every valid row.
    if (lo >= hi) {
        const uint rec2 = (D + 2u) / 2u;
        for (uint e = gl_LocalInvocationID.x; e < BR * rec2; e += WG) {
            uint i = e / rec2;
            uint w = e - i * rec2;
            if (row0 + i < nrows) {
                out2[(row_index(i, g) * pc.splits + gl_WorkGroupID.z) * rec2 + w] = w == 0u ? vec2(MASKED, 0.0) : vec2(0.0);
            }
        }
        return;
    }
#endif

    // Queries, times Scale, as f16 in ks (BR == BC rows); zero rows past
    // nrows, loaded in batches of 2*LB. Each subgroup keeps its 16 rows as
    // A fragments.
    [[unroll]] for (uint i0 = 0u; i0 < LT; i0 += 2u * LB) {
        f16vec4 qr[2u * LB];
        [[unroll]] for (uint k = 0u; k < 2u * LB; k++) {
            uint e = gl_LocalInvocationID.x + (i0 + k) * WG;
            uint i = e / D4;
            vec4 x = vec4(0.0);
            if (e < BR * D4 && row0 + i < nrows) {
                x = clamp(q4[row_index(i, g) * D4 + e - i * D4] * pc.scale, -F16_MAX, F16_MAX);
            }
            qr[k] = f16vec4(x);
        }
        [[unroll]] for (uint k = 0u; k < 2u * LB; k++) {
            uint e = gl_LocalInvocationID.x + (i0 + k) * WG;
            if (e < BR * D4) {
                uint i = e / D4;
                ks[i * SQ4 + e - i * D4] = qr[k];
            }
        }
    }
    barrier();
    MAT_A qa[ND];
    [[unroll]] for (uint d = 0u; d < ND; d++) {
        coopMatLoad(qa[d], ks, 16u * rb * SQ4 + 4u * d, SQ4, gl_CooperativeMatrixLayoutRowMajor);
    }
    barrier();

    // The softmax row of this lane (of the subgroup's 16) and its keys:
    // TPR consecutive lanes per row. The row's running max and sum stay in
    // registers (each of the TPR lanes holds the same values). The row's
    // mask (key_allowed of attention.comp): keys [jlo, p], and with SPANS
    // the later chunk keys of its image span, all below key_end.
    uint srow = lane / TPR;
    uint sc0 = (lane - srow * TPR) * CPT;
    uint brow = 16u * rb + srow; // block row
    bool rvalid = row0 + brow < nrows;
    uint rt = (row0 + brow) / grp;
    uint rp = p0 + rt;
    uint jlo = (pc.window != 0u && rp >= pc.window) ? rp + 1u - pc.window : 0u;
    uint jhi = rvalid ? min(rp + 1u, key_end) : 0u; // one past the causal keys
#ifdef SPANS
    int rspan = 0;
    if (rvalid) {
        rspan = spans[rt];
    }
#endif
    float rm = MASKED; // reference max (MASKED: no key seen yet)
    float rl = 0.0;    // sum of exp(s - rm) over the keys seen

    ACC o[NACC];
    [[unroll]] for (uint j = 0u; j < NACC; j++) {
        o[j] = ACC(0.0);
    }

    f16vec4 kpf[NPF];
    f16vec4 vpf[NPF];
    [[unroll]] for (uint i = 0u; i < NPF; i++) {
        kpf[i] = kv_entry(i, lo, g, key_end, false);
        vpf[i] = kv_entry(i, lo, g, key_end, true);
    }

    for (uint j0 = lo; j0 < hi; j0 += BC) {
        [[unroll]] for (uint i = 0u; i < NPF; i++) {
            put_entry(i, kpf[i], vpf[i]);
        }
        stage_rest(j0, g, key_end);
        barrier();
        // The next tile's first entries wait in registers during the
        // products.
        if (j0 + BC < hi) {
            [[unroll]] for (uint i = 0u; i < NPF; i++) {
                kpf[i] = kv_entry(i, j0 + BC, g, key_end, false);
                vpf[i] = kv_entry(i, j0 + BC, g, key_end, true);
            }
        }

        // The subgroup's scores: rows 16rb.. · keys 0..BCᵀ.
        ACC s[BC / 16u];
        [[unroll]] for (uint kb = 0u; kb < BC / 16u; kb++) {
            s[kb] = ACC(0.0);
        }
        [[unroll]] for (uint d = 0u; d < ND; d++) {
            [[unroll]] for (uint kb = 0u; kb < BC / 16u; kb++) {
                MAT_B b;
                coopMatLoad(b, ks, 16u * kb * SQ4 + 4u * d, SQ4, gl_CooperativeMatrixLayoutColumnMajor);
                s[kb] = coopMatMulAdd(qa[d], b, s[kb]);
            }
        }
        [[unroll]] for (uint kb = 0u; kb < BC / 16u; kb++) {
            coopMatStore(s[kb], ss, sbase + 16u * kb, SS, gl_CooperativeMatrixLayoutRowMajor);
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();

        // Online softmax of row srow over keys j0+sc0 .. j0+sc0+CPT-1.
        float sv[CPT];
        float mx = MASKED;
        [[unroll]] for (uint c = 0u; c < CPT; c++) {
            uint j = j0 + sc0 + c;
            bool ok = j >= jlo && j < jhi;
#ifdef SPANS
            // A later chunk token of the row's image span (j > p >= p0).
            if (rspan != 0 && j >= jhi && j < key_end) {
                ok = spans[j - p0] == rspan;
            }
#endif
            float x = MASKED;
            if (ok) {
                x = ss[sbase + srow * SS + sc0 + c];
            }
            sv[c] = x;
            mx = max(mx, x);
        }
        for (uint x = 1u; x < TPR; x <<= 1u) {
            mx = max(mx, subgroupShuffleXor(mx, x));
        }
        float alpha = 1.0;
        if (mx > rm + THRESH) {
            // A larger reference; a row that saw no key yet has zero
            // outputs and needs no rescale.
            if (rm != MASKED) {
                alpha = exp(rm - mx);
            }
            rm = mx;
        }
        float sum = 0.0;
        [[unroll]] for (uint c = 0u; c < CPT; c += 4u) {
            f16vec4 p = f16vec4(0.0);
            [[unroll]] for (uint k = 0u; k < 4u; k++) {
                if (sv[c + k] != MASKED) {
                    p[k] = float16_t(exp(sv[c + k] - rm));
                }
            }
            ps[pbase + srow * SP4 + (sc0 + c) / 4u] = p;
            sum += float(p.x) + float(p.y) + float(p.z) + float(p.w);
        }
        for (uint x = 1u; x < TPR; x <<= 1u) {
            sum += subgroupShuffleXor(sum, x);
        }
        rl = rl * alpha + sum;
        if (sc0 == 0u) {
            row_a[abase + srow] = alpha;
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();

        // Every lane reads the same 16 factors: the branch is uniform in
        // the subgroup. The scores were read: the ss slice is free.
        bool rescale = false;
        for (uint i = 0u; i < 16u; i++) {
            rescale = rescale || row_a[abase + i] != 1.0;
        }
        if (rescale) {
            [[unroll]] for (uint j = 0u; j < NACC; j++) {
                if (cb + 2u * j < ND) {
                    coopMatStore(o[j], ss, sbase, 16u, gl_CooperativeMatrixLayoutRowMajor);
                    subgroupMemoryBarrierShared();
                    subgroupBarrier();
                    for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
                        ss[sbase + e] *= row_a[abase + e / 16u];
                    }
                    subgroupMemoryBarrierShared();
                    subgroupBarrier();
                    coopMatLoad(o[j], ss, sbase, 16u, gl_CooperativeMatrixLayoutRowMajor);
                    subgroupBarrier();
                }
            }
        }
        [[unroll]] for (uint kc = 0u; kc < BC / 16u; kc++) {
            MAT_A a;
            coopMatLoad(a, ps, pbase + 4u * kc, SP4, gl_CooperativeMatrixLayoutRowMajor);
            [[unroll]] for (uint j = 0u; j < NACC; j++) {
                uint n = cb + 2u * j;
                if (n < ND) {
                    MAT_B b;
                    coopMatLoad(b, vs, 16u * kc * SQ4 + 4u * n, SQ4, gl_CooperativeMatrixLayoutRowMajor);
                    o[j] = coopMatMulAdd(a, b, o[j]);
                }
            }
        }
        barrier();
    }

    if (sc0 == 0u) {
        row_l[abase + srow] = rl;
#ifdef SPLIT
        row_a[abase + srow] = rm; // the tiles' reads of row_a ended at the last barrier
#endif
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();

#ifdef SPLIT
    // The records: m and l from the subgroup of column half 0 (both halves
    // hold the same), o from each subgroup's accumulators; rows that saw
    // no key write the empty record. Records start on even floats.
    const uint rec2 = (D + 2u) / 2u;
    if (cb == 0u && sc0 == 0u && rvalid) {
        uint base = (row_index(brow, g) * pc.splits + gl_WorkGroupID.z) * rec2;
        out2[base] = rm == MASKED ? vec2(MASKED, 0.0) : vec2(rm, rl);
    }
    [[unroll]] for (uint j = 0u; j < NACC; j++) {
        uint n = cb + 2u * j;
        if (n < ND) {
            coopMatStore(o[j], ss, sbase, 16u, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = lane; e < 64u; e += gl_SubgroupSize) {
                uint i = e / 4u;
                uint c4 = e - 4u * i;
                if (row0 + 16u * rb + i < nrows) {
                    uint at = sbase + 16u * i + 4u * c4;
                    vec4 x = vec4(ss[at], ss[at + 1u], ss[at + 2u], ss[at + 3u]);
                    if (row_a[abase + i] == MASKED) {
                        x = vec4(0.0);
                    }
                    uint base = (row_index(16u * rb + i, g) * pc.splits + gl_WorkGroupID.z) * rec2 + 1u + 8u * n + 2u * c4;
                    out2[base] = x.xy;
                    out2[base + 1u] = x.zw;
                }
            }
            subgroupBarrier();
        }
    }
#else
    // out = O / l through the staging tile; rows past nrows are dropped.
    [[unroll]] for (uint j = 0u; j < NACC; j++) {
        uint n = cb + 2u * j;
        if (n < ND) {
            coopMatStore(o[j], ss, sbase, 16u, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint e = lane; e < 64u; e += gl_SubgroupSize) {
                uint i = e / 4u;
                uint c4 = e - 4u * i;
                if (row0 + 16u * rb + i < nrows) {
                    uint at = sbase + 16u * i + 4u * c4;
                    vec4 x = vec4(ss[at], ss[at + 1u], ss[at + 2u], ss[at + 3u]);
                    out4[row_index(16u * rb + i, g) * D4 + 4u * n + c4] = x / row_l[abase + i];
                }
            }
            subgroupBarrier();
        }
    }
#endif
}

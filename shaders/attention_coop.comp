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
//   6 out f32 [T, nH*D]
//   7 spans int32 [T]              readonly, SPANS only (0 = text)
// Push: T, nH, nKV, Slots, Window, Scale, Splits (Splits unused).
// Spec: 0 workgroup size WG = 4 subgroups (gl_NumSubgroups must be 4);
// 1 D, a multiple of 16.
// Mapping: group (x, y) = (row block, kv head g). The T*(nH/nKV) query rows
// of kv head g, r = t*(nH/nKV) + (h - g*(nH/nKV)), are cut into blocks of
// BR = 32; a block streams the keys [lo, hi) its rows may see (as
// attention.comp) in tiles of BC = 32 keys. Subgroup sg has rb = sg & 1,
// cb = sg >> 1: it owns the block rows [16rb, 16rb+16), computes the
// 16 x 16 scores of those rows and the tile's keys [16cb, 16cb+16), and
// accumulates the outputs of those rows in the 16-column blocks n of D with
// n % 2 == cb (NACC f32 accumulators). The softmax gives each row TPR =
// WG/BR consecutive invocations of one subgroup, CPT = BC/TPR keys each.
//
// Per tile (four barriers):
//   load keys into kvs (f16)                 barrier
//   S = Q·Kᵀ (Kᵀ: column-major load of kvs) into ss (f32)
//                                            barrier
//   softmax: mask, running max m and sum l per row, P = exp(s - m) into ps
//   as f16, the row's rescale into row_a; load values into kvs
//                                            barrier
//   rescale the accumulators when a row's m moved; O += P·V
//                                            barrier
// A row's reference max m moves only when the tile's max passes it by more
// than THRESH, so P <= e^THRESH stays well inside f16 and the accumulators
// (whose rows can only be scaled through shared memory) are rescaled only
// when a subgroup's row needs it, rarely after the first tiles. The result
// O/l does not depend on m. Masked scores are the finite MASKED, as in
// attention.glsl. Rows past T*(nH/nKV) have zero queries and see no key;
// they are not written. Keys past hi are staged as zeros and masked.
//
// Shared memory: qs 2·BR·(D+8) + kvs 2·BC·(D+8) + ss 4·BR·(BC+4)
// + ps 2·BR·(BC+8) + 8·BR bytes: 41216 for D = 256, 24832 for D = 128
// (kernels.attnCoopShared). Row strides are multiples of 16 bytes, as
// coopMatLoad/Store need. After the softmax, ss doubles as each subgroup's
// 16 x 16 f32 staging tile (rescale, output).
//! variant attention_coop_f16
//! variant attention_coop_f16_spans SPANS
//! variant attention_coop_f32 CACHE_F32
//! variant attention_coop_f32_spans CACHE_F32 SPANS
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
layout(binding = 6) writeonly buffer Out { float outp[]; };
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
const uint SQ = D + 8u;             // f16 row stride of qs and kvs
const uint SS = BC + 4u;            // f32 row stride of ss
const uint SP = BC + 8u;            // f16 row stride of ps
const uint D4 = D / 4u;             // vec4 per head row
const uint ND = D / 16u;            // 16-column blocks of D
const uint NACC = (ND + 1u) / 2u;   // accumulators per subgroup
const uint TPR = WG / BR;           // softmax invocations per row
const uint CPT = BC / TPR;          // keys per softmax invocation
const float F16_MAX = 65504.0;
const float THRESH = 8.0;           // e^8 ≈ 2981

// Score of a key a row may not see (as attention.glsl).
#define MASKED (-3.0e38)

shared float16_t qs[BR * SQ];  // the block's queries times Scale
shared float16_t kvs[BC * SQ]; // the tile's keys, then its values
shared float ss[BR * SS];      // scores; then 16 x 16 staging per subgroup
shared float16_t ps[BR * SP];  // probabilities
shared float row_a[BR];        // the tile's rescale of each row (1: none)
shared float row_l[BR];        // each row's final sum

#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>

uint p0;       // position of the chunk's first token
uint grp;      // query heads per kv head
uint row0;     // first block row
uint nrows;    // rows of this kv head: T * grp
uint key_end;  // one past the last key of this workgroup

// key_allowed is attention.comp's: whether block row i sees key j.
bool key_allowed(uint i, uint j) {
    uint r = row0 + i;
    if (r >= nrows || j >= key_end) {
        return false;
    }
    uint t = r / grp;
    uint p = p0 + t;
    if (pc.window != 0 && j + pc.window <= p) {
        return false;
    }
    if (j <= p) {
        return true;
    }
#ifdef SPANS
    int s = spans[t];
    return s != 0 && spans[j - p0] == s; // j > p >= p0: a chunk token
#else
    return false;
#endif
}

// row_index is the row t*nH + h of q and out of block row i, which must be
// valid.
uint row_index(uint i, uint g) {
    uint r = row0 + i;
    uint t = r / grp;
    uint h = g * grp + (r - t * grp);
    return t * pc.nH + h;
}

// load_tile puts keys (or values) j0 .. j0+BC-1 of kv head g into kvs as
// f16, zero from key_end on.
void load_tile(uint j0, uint g, bool values) {
    uint kv4 = pc.nKV * D4;
    for (uint e = gl_LocalInvocationID.x; e < BC * D4; e += WG) {
        uint c = e / D4;
        uint w = e - c * D4;
        uint j = j0 + c;
        vec4 x = vec4(0.0);
        if (j < key_end) {
            if (j >= p0) {
                uint at = (j - p0) * kv4 + g * D4 + w;
                x = clamp(values ? v4[at] : k4[at], -F16_MAX, F16_MAX);
            } else {
                uint at = (j % pc.slots) * kv4 + g * D4 + w;
#ifdef CACHE_F32
                x = clamp(values ? cv4[at] : ck4[at], -F16_MAX, F16_MAX);
#else
                uvec2 h = values ? cv2[at] : ck2[at];
                x = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#endif
            }
        }
        f16vec4 h = f16vec4(x);
        uint at = c * SQ + 4u * w;
        kvs[at] = h.x;
        kvs[at + 1u] = h.y;
        kvs[at + 2u] = h.z;
        kvs[at + 3u] = h.w;
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
    uint stage = sg * 256u; // this subgroup's staging tile in ss

    // Keys the block's rows may see (attention.comp).
    uint p_first = p0 + row0 / grp;
    uint p_last = p0 + (min(row0 + BR, nrows) - 1u) / grp;
    uint lo = (pc.window > 0u && p_first + 1u > pc.window) ? p_first + 1u - pc.window : 0u;
    uint hi = p_last + 1u;
#ifdef SPANS
    hi = p0 + pc.T;
#endif
    key_end = hi;

    // Queries, times Scale, as f16; zero rows past nrows. The first
    // barrier of the tile loop orders these stores before their use.
    for (uint e = gl_LocalInvocationID.x; e < BR * D4; e += WG) {
        uint i = e / D4;
        uint w = e - i * D4;
        vec4 x = vec4(0.0);
        if (row0 + i < nrows) {
            x = clamp(q4[row_index(i, g) * D4 + w] * pc.scale, -F16_MAX, F16_MAX);
        }
        f16vec4 h = f16vec4(x);
        uint at = i * SQ + 4u * w;
        qs[at] = h.x;
        qs[at + 1u] = h.y;
        qs[at + 2u] = h.z;
        qs[at + 3u] = h.w;
    }

    // The softmax row of this invocation and its keys: TPR consecutive
    // lanes of one subgroup per row. Its running max and sum stay in
    // registers (each of the TPR lanes holds the same values).
    uint u = sg * gl_SubgroupSize + lane;
    uint srow = u / TPR;
    uint sc0 = (u - srow * TPR) * CPT;
    float rm = MASKED; // reference max (MASKED: no key seen yet)
    float rl = 0.0;    // sum of exp(s - rm) over the keys seen

    ACC o[NACC];
    [[unroll]] for (uint j = 0u; j < NACC; j++) {
        o[j] = ACC(0.0);
    }

    for (uint j0 = lo; j0 < hi; j0 += BC) {
        load_tile(j0, g, false);
        barrier();

        // S block (rb, cb) = Q rows 16rb.. · K rows 16cb..ᵀ.
        if (sg < NS) {
            ACC s = ACC(0.0);
            [[unroll]] for (uint d0 = 0u; d0 < D; d0 += 16u) {
                MAT_A a;
                MAT_B b;
                coopMatLoad(a, qs, 16u * rb * SQ + d0, SQ, gl_CooperativeMatrixLayoutRowMajor);
                coopMatLoad(b, kvs, 16u * cb * SQ + d0, SQ, gl_CooperativeMatrixLayoutColumnMajor);
                s = coopMatMulAdd(a, b, s);
            }
            coopMatStore(s, ss, 16u * rb * SS + 16u * cb, SS, gl_CooperativeMatrixLayoutRowMajor);
        }
        barrier();

        // Online softmax of row srow over keys j0+sc0 .. j0+sc0+CPT-1.
        if (srow < BR) {
            float sv[CPT];
            float mx = MASKED;
            [[unroll]] for (uint c = 0u; c < CPT; c++) {
                float s = MASKED;
                if (key_allowed(srow, j0 + sc0 + c)) {
                    s = ss[srow * SS + sc0 + c];
                }
                sv[c] = s;
                mx = max(mx, s);
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
            [[unroll]] for (uint c = 0u; c < CPT; c++) {
                float16_t p = float16_t(0.0);
                if (sv[c] != MASKED) {
                    p = float16_t(exp(sv[c] - rm));
                }
                ps[srow * SP + sc0 + c] = p;
                sum += float(p);
            }
            for (uint x = 1u; x < TPR; x <<= 1u) {
                sum += subgroupShuffleXor(sum, x);
            }
            rl = rl * alpha + sum;
            if (sc0 == 0u) {
                row_a[srow] = alpha;
            }
        }
        load_tile(j0, g, true);
        barrier();

        if (sg < NS) {
            // Every lane reads the same 16 factors: the branch is uniform
            // in the subgroup.
            bool rescale = false;
            for (uint i = 0u; i < 16u; i++) {
                rescale = rescale || row_a[16u * rb + i] != 1.0;
            }
            if (rescale) {
                [[unroll]] for (uint j = 0u; j < NACC; j++) {
                    if (cb + 2u * j < ND) {
                        coopMatStore(o[j], ss, stage, 16u, gl_CooperativeMatrixLayoutRowMajor);
                        subgroupBarrier();
                        for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
                            ss[stage + e] *= row_a[16u * rb + e / 16u];
                        }
                        subgroupBarrier();
                        coopMatLoad(o[j], ss, stage, 16u, gl_CooperativeMatrixLayoutRowMajor);
                        subgroupBarrier();
                    }
                }
            }
            [[unroll]] for (uint kc = 0u; kc < BC; kc += 16u) {
                MAT_A a;
                coopMatLoad(a, ps, 16u * rb * SP + kc, SP, gl_CooperativeMatrixLayoutRowMajor);
                [[unroll]] for (uint j = 0u; j < NACC; j++) {
                    uint n = cb + 2u * j;
                    if (n < ND) {
                        MAT_B b;
                        coopMatLoad(b, kvs, kc * SQ + 16u * n, SQ, gl_CooperativeMatrixLayoutRowMajor);
                        o[j] = coopMatMulAdd(a, b, o[j]);
                    }
                }
            }
        }
        barrier();
    }

    if (srow < BR && sc0 == 0u) {
        row_l[srow] = rl;
    }
    barrier();

    // out = O / l through the staging tile; rows past nrows are dropped.
    if (sg < NS) {
        [[unroll]] for (uint j = 0u; j < NACC; j++) {
            uint n = cb + 2u * j;
            if (n < ND) {
                coopMatStore(o[j], ss, stage, 16u, gl_CooperativeMatrixLayoutRowMajor);
                subgroupBarrier();
                for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
                    uint i = 16u * rb + e / 16u;
                    if (row0 + i < nrows) {
                        outp[row_index(i, g) * D + 16u * n + e % 16u] = ss[stage + e] / row_l[i];
                    }
                }
                subgroupBarrier();
            }
        }
    }
}

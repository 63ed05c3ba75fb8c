#version 450
// Attention of a chunk of T query tokens at positions p0 .. p0+T-1 over the
// chunk's own keys and a ring-buffer KV cache (GEMMA3.md §1.4, §3):
//
//   out[t,h] = Σ_j softmax_j(Scale · q[t,h]·k[j,g]) · v[j,g],  g = h / (nH/nKV)
//
// over the keys j the query at p = p0+t may see: j <= p, and j > p - Window
// when Window > 0; with SPANS, also every later chunk token u with
// spans[u] == spans[t] != 0 (image tokens see each other both ways), the
// window still applying (as transformers does; kernels.AttentionSpans).
// Keys j >= p0 come from k, v (row j - p0); older ones from the caches, row
// j % Slots (attend, then write: the caches do not hold the chunk yet).
//
// Bindings:
//   0 q   f32 [T, nH*D]            readonly
//   1 k   f32 [T, nKV*D]           readonly
//   2 v   f32 [T, nKV*D]           readonly
//   3 ck  cache [Slots, nKV*D]     readonly: f16 pairs packed in uint words
//                                  (low half first), or f32 with CACHE_F32
//   4 cv  cache [Slots, nKV*D]     readonly, as ck
//   5 pos int32 [>= 1]             readonly: pos[0] = p0, read here so that a
//                                  recorded dispatch serves every step
//   6 out f32 [T, nH*D]; with SPLIT the scratch f32 [T*nH, Splits, D+2]:
//         per (row r = t*nH + h, split s) the running max m, the sum l and
//         the unnormalized accumulator o[D] (attention_combine.comp)
//   7 spans int32 [T]              readonly, SPANS only (0 = text)
// Push: T, nH, nKV, Slots, Window, Scale, Splits (Splits only read by SPLIT).
// Spec: 0 workgroup size, 1 D (even), 2 BR, 3 BC (include/attention.glsl).
// Mapping: group (x, y, z) = (row block, kv head g, split). The T*(nH/nKV)
// query rows of kv head g, r = t*(nH/nKV) + (h - g*(nH/nKV)), are cut into
// blocks of BR; a block attends over the keys [lo, hi) its rows may see
// (with SPANS, widened to the end of the chunk); SPLIT cuts that range into
// Splits runs of whole tiles, one per z.
//! variant attention_f16
//! variant attention_f16_spans SPANS
//! variant attention_f32 CACHE_F32
//! variant attention_f32_spans CACHE_F32 SPANS
//! variant attention_split_f16 SPLIT
//! variant attention_split_f16_spans SPLIT SPANS
//! variant attention_split_f32 SPLIT CACHE_F32
//! variant attention_split_f32_spans SPLIT CACHE_F32 SPANS
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

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

#include "attention.glsl"

uint p0;       // position of the chunk's first token
uint grp;      // query heads per kv head
uint row0;     // first block row
uint nrows;    // rows of this kv head: T * grp
uint key_end;  // one past the last key of this workgroup

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

// load_tile puts keys (or values) j0 .. j0+BC-1 of kv head g into kvs, as
// f32, zero past key_end.
void load_tile(uint j0, uint g, bool values) {
    uint kvw = pc.nKV * D;
    uint half_d = D / 2;
    for (uint idx = gl_LocalInvocationID.x; idx < BC * half_d; idx += WG) {
        uint c = idx / half_d;
        uint w = idx - c * half_d;
        uint j = j0 + c;
        vec2 x = vec2(0.0);
        if (j < key_end) {
            if (j >= p0) {
                uint e = (j - p0) * kvw + g * D + 2 * w;
                x = values ? vec2(v[e], v[e + 1]) : vec2(k[e], k[e + 1]);
            } else {
                uint e = (j % pc.slots) * kvw + g * D + 2 * w;
#ifdef CACHE_F32
                x = values ? vec2(cv[e], cv[e + 1]) : vec2(ck[e], ck[e + 1]);
#else
                x = unpackHalf2x16(values ? cv[e / 2] : ck[e / 2]);
#endif
            }
        }
        kvs[c * KS + 2 * w] = x.x;
        kvs[c * KS + 2 * w + 1] = x.y;
    }
}

// row_index is the row t*nH + h of q and out (and, with SPLIT, of the scratch)
// of block row i, which must be valid.
uint row_index(uint i, uint g) {
    uint r = row0 + i;
    uint t = r / grp;
    uint h = g * grp + (r - t * grp);
    return t * pc.nH + h;
}

void main() {
    uint g = gl_WorkGroupID.y;
    p0 = uint(pos[0]);
    grp = pc.nH / pc.nKV;
    nrows = pc.T * grp;
    row0 = gl_WorkGroupID.x * BR;

    // Keys the block's rows may see: from the first row's window start to
    // the last row's position.
    uint p_first = p0 + row0 / grp;
    uint p_last = p0 + (min(row0 + BR, nrows) - 1) / grp;
    uint lo = (pc.window > 0 && p_first + 1 > pc.window) ? p_first + 1 - pc.window : 0;
    uint hi = p_last + 1;
#ifdef SPANS
    hi = p0 + pc.T; // later tokens of the same span; earlier ones are in [lo, hi)
#endif
#ifdef SPLIT
    uint per = ((hi - lo + pc.splits - 1) / pc.splits + BC - 1) / BC * BC;
    lo = min(hi, lo + gl_WorkGroupID.z * per);
    hi = min(hi, lo + per);
#endif
    key_end = hi;

    flash_init();
    for (uint idx = gl_LocalInvocationID.x; idx < BR * D; idx += WG) {
        uint i = idx / D;
        float x = 0.0;
        if (row0 + i < nrows) {
            x = q[row_index(i, g) * D + (idx - i * D)] * pc.scale;
        }
        qs[idx] = x;
    }
    barrier();

    for (uint j0 = lo; j0 < hi; j0 += BC) {
        load_tile(j0, g, false);
        barrier();
        flash_scores(j0);
        barrier();
        flash_softmax();
        load_tile(j0, g, true);
        barrier();
        flash_accumulate();
        barrier();
    }

#ifdef SPLIT
    const uint rec = D + 2;
    for (uint i = gl_LocalInvocationID.x; i < BR; i += WG) {
        if (row0 + i < nrows) {
            uint base = (row_index(i, g) * pc.splits + gl_WorkGroupID.z) * rec;
            outp[base] = row_m[i];
            outp[base + 1] = row_l[i];
        }
    }
#endif
    for (uint n = 0; n < NO; n++) {
        uint cell = gl_LocalInvocationID.x + n * WG;
        uint i = cell / D;
        if (cell < BR * D && row0 + i < nrows) {
            uint d = cell - i * D;
#ifdef SPLIT
            outp[(row_index(i, g) * pc.splits + gl_WorkGroupID.z) * rec + 2 + d] = o[n];
#else
            outp[row_index(i, g) * D + d] = o[n] / row_l[i];
#endif
        }
    }
}

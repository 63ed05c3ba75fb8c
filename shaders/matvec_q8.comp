#version 450
// Matrix-vector product with 8-bit activations (decode step), weights in
// their device layout:
//
//	x~[e] = s[b] * q[e],  q[e] = roundEven(x[e] * 127 / amax_b) in [-127, 127],
//	                      s[b] = amax_b / 127, amax_b = max |x| over the
//	                      32-element block b = e / 32 (s = q = 0 for amax 0)
//	y[r]  = sum_c W[r][c] * x~[c]
//
// The integer dot product instructions multiply four weight and activation
// bytes at once, so the 4- and 6-bit types cost a few instructions per
// element instead of a float decode each (matvec.comp). x~ differs from x
// by at most s[b] / 2 per element (kernels.QuantizeQ8 is the reference).
//
// Bindings: 0 W (uint words: rows back to back, each cols/QK blocks of QB
// bytes in their device layout, see q8dot.glsl; 16-byte aligned start,
// read as uvec4s through wq4 for Q4_0, Q4_K and Q6_K); 1 x f32 [cols] (readonly);
// 2 y f32 [rows].
// Push: rows, cols (a multiple of 256 for the K-quants, 32 otherwise).
// Spec: 0 workgroup size (a multiple of the subgroup size); 1 TEAM, lanes
// per row (a power of two, at most the subgroup size); 2 WG_ROWS, rows per
// workgroup; 3 XCAP, elements of x the shared arrays hold (>= cols, a
// multiple of 32).
// Mapping: every workgroup first quantizes all of x into shared memory
// (invocation i takes the vec4s i, i + size, ...; see quantize_x). Workgroup g = group.y *
// groups.x + group.x owns rows [g*WG_ROWS, (g+1)*WG_ROWS); the subgroups
// are cut into teams of TEAM lanes, each team takes one row at a time, its
// lanes taking units l, l + TEAM, ... of the row (q8dot.glsl), then a
// sum over the team's lanes. Rows past the end repeat the last row and are not
// stored, so every lane runs the same number of row steps.
//
// GELU variants (matvec_q8_gelu_<type>), the gated MLP product of one token:
//
//	y[r] = gelu(Wg[r] · x~) * (Wu[r] · x~)   Wg, Wu [rows, cols] of one type
//
// Bindings: 0 Wg; 1 Wu (as W); 2 x f32 [cols]; 3 y f32 [rows].
//
// NORM variants (matvec_q8_norm_<type>, matvec_q8_norm_gelu_<type>) take
// the layer seam's residual add and next pre-norm (addnorm.comp) as their
// input: with o at the x binding, the residual r and gains g1, g2 (1 + w),
//
//	xnew = r + o * inversesqrt(mean(o^2) + eps) * g1
//	x    = xnew * inversesqrt(mean(xnew^2) + eps) * g2
//
// every workgroup computing both in its prologue (xnew * g2 kept in shared
// memory, scaled by the second norm as it is quantized) before quantizing
// x; with write = 1 workgroup 0 also stores xnew. The prologue issues all
// its loads (an invocation's vec4s of o, r, g1 and g2) before the first
// sum: one memory round trip instead of three.
// Extra bindings after y: r f32 [cols], g1 f32 [cols], g2 f32 [cols], xnew
// f32 [cols] (written only with write = 1). Push: rows, cols, eps, write.
//
// 8-bit hand-off (Q8OUT with GELU: matvec_q8_[norm_]gelu_q8out_<type>;
// Q8IN: matvec_q8_q8in_<type>): the gated product writes its y already
// quantized as the next product would quantize it, and that product (the
// down projection) copies it instead of quantizing x in every workgroup.
// A q8 activation of n values (n a multiple of 32) is n int8 values, value
// e at byte e (the layout of sx), then per block b of 32 at byte n + 8b
// the uvec2 of sb: the scale's bits and the sums of its halves.
// Q8OUT needs WG_ROWS and rows multiples of 32 (every block complete):
// each workgroup keeps its rows' y in shared memory and quantizes them at
// the end, 8 lanes a block, with the code quantize_x runs. Q8IN reads x (binding 1) as such an activation.
//! variant matvec_q8_q4_0 TYPE_Q4_0
//! variant matvec_q8_q5_0 TYPE_Q5_0
//! variant matvec_q8_q8_0 TYPE_Q8_0
//! variant matvec_q8_q4_k TYPE_Q4_K
//! variant matvec_q8_q6_k TYPE_Q6_K
//! variant matvec_q8_gelu_q4_0 TYPE_Q4_0 GELU
//! variant matvec_q8_gelu_q5_0 TYPE_Q5_0 GELU
//! variant matvec_q8_gelu_q8_0 TYPE_Q8_0 GELU
//! variant matvec_q8_gelu_q4_k TYPE_Q4_K GELU
//! variant matvec_q8_gelu_q6_k TYPE_Q6_K GELU
//! variant matvec_q8_norm_q4_0 TYPE_Q4_0 NORM
//! variant matvec_q8_norm_q5_0 TYPE_Q5_0 NORM
//! variant matvec_q8_norm_q8_0 TYPE_Q8_0 NORM
//! variant matvec_q8_norm_q4_k TYPE_Q4_K NORM
//! variant matvec_q8_norm_q6_k TYPE_Q6_K NORM
//! variant matvec_q8_norm_gelu_q4_0 TYPE_Q4_0 GELU NORM
//! variant matvec_q8_norm_gelu_q5_0 TYPE_Q5_0 GELU NORM
//! variant matvec_q8_norm_gelu_q8_0 TYPE_Q8_0 GELU NORM
//! variant matvec_q8_norm_gelu_q4_k TYPE_Q4_K GELU NORM
//! variant matvec_q8_norm_gelu_q6_k TYPE_Q6_K GELU NORM
//! variant matvec_q8_gelu_q8out_q4_0 TYPE_Q4_0 GELU Q8OUT
//! variant matvec_q8_gelu_q8out_q5_0 TYPE_Q5_0 GELU Q8OUT
//! variant matvec_q8_gelu_q8out_q8_0 TYPE_Q8_0 GELU Q8OUT
//! variant matvec_q8_gelu_q8out_q4_k TYPE_Q4_K GELU Q8OUT
//! variant matvec_q8_gelu_q8out_q6_k TYPE_Q6_K GELU Q8OUT
//! variant matvec_q8_norm_gelu_q8out_q4_0 TYPE_Q4_0 GELU NORM Q8OUT
//! variant matvec_q8_norm_gelu_q8out_q5_0 TYPE_Q5_0 GELU NORM Q8OUT
//! variant matvec_q8_norm_gelu_q8out_q8_0 TYPE_Q8_0 GELU NORM Q8OUT
//! variant matvec_q8_norm_gelu_q8out_q4_k TYPE_Q4_K GELU NORM Q8OUT
//! variant matvec_q8_norm_gelu_q8out_q6_k TYPE_Q6_K GELU NORM Q8OUT
//! variant matvec_q8_q8in_q4_0 TYPE_Q4_0 Q8IN
//! variant matvec_q8_q8in_q5_0 TYPE_Q5_0 Q8IN
//! variant matvec_q8_q8in_q8_0 TYPE_Q8_0 Q8IN
//! variant matvec_q8_q8in_q4_k TYPE_Q4_K Q8IN
//! variant matvec_q8_q8in_q6_k TYPE_Q6_K Q8IN
//! requires subgroup shuffle intdot
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#extension GL_EXT_spirv_intrinsics : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TEAM = 8;
layout(constant_id = 2) const uint WG_ROWS = 8;
layout(constant_id = 3) const uint XCAP = 256;

// The weight (Wg with GELU), as words and as uvec4s.
layout(binding = 0) readonly buffer W { uint wq[]; };
layout(binding = 0) readonly buffer W4 { uvec4 wq4[]; };
#if defined(GELU) && defined(NORM)
layout(binding = 1) readonly buffer WU { uint wu[]; };
layout(binding = 1) readonly buffer WU4 { uvec4 wu4[]; };
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };
layout(binding = 3) writeonly buffer Y { float y[]; };
#define Y_BINDING 3
layout(binding = 4) readonly buffer R4 { vec4 r4[]; };
layout(binding = 5) readonly buffer G1 { vec4 g1[]; };
layout(binding = 6) readonly buffer G2 { vec4 g2[]; };
layout(binding = 7) writeonly buffer XN { vec4 xnew[]; };
#elif defined(GELU)
layout(binding = 1) readonly buffer WU { uint wu[]; };
layout(binding = 1) readonly buffer WU4 { uvec4 wu4[]; };
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };
layout(binding = 3) writeonly buffer Y { float y[]; };
#define Y_BINDING 3
#elif defined(NORM)
layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
layout(binding = 3) readonly buffer R4 { vec4 r4[]; };
layout(binding = 4) readonly buffer G1 { vec4 g1[]; };
layout(binding = 5) readonly buffer G2 { vec4 g2[]; };
layout(binding = 6) writeonly buffer XN { vec4 xnew[]; };
#elif defined(Q8IN)
// x as a q8 activation (see the header): its int8 values as uvec4s, and
// its blocks' uvec2s.
layout(binding = 1) readonly buffer XQ4 { uvec4 xq4[]; };
layout(binding = 1) readonly buffer XB2 { uvec2 xb2[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#else
layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#endif
#ifdef Q8OUT
// y as a q8 activation (see the header).
layout(binding = Y_BINDING) writeonly buffer YQ4 { uvec4 yq4[]; };
layout(binding = Y_BINDING) writeonly buffer YB2 { uvec2 yb2[]; };
shared float sy[WG_ROWS]; // the workgroup's rows of y, before quantizing
#endif

layout(push_constant) uniform Push {
    uint rows;
    uint cols;
#ifdef NORM
    float eps;
    uint write; // 1: workgroup 0 writes xnew
#endif
} pc;

// OpSDot and OpSUDot (SPV_KHR_integer_dot_product) on packed 4 x 8-bit
// vectors; the last operand is the packed vector format (0: 4x8 bit).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(int a, int b, spirv_literal int format);
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4452)
int sudot(int a, uint b, spirv_literal int format);

shared uvec4 sx[XCAP / 16u];
shared uvec2 sb[XCAP / 32u];
#ifdef NORM
#include "reduce.glsl"
shared vec4 sf[XCAP / 4u];
float rs2; // the second norm's scale

// norm_x computes the residual sum and keeps it in sf (see the header),
// workgroup 0 writing it to xnew when asked, and sets rs2.
void norm_x(bool write) {
    uint n4 = pc.cols >> 2;
    // Every load of the prologue is issued at once: the invocation's vec4s
    // of o, r, g1 and g2 (NI of each at most).
    const uint NI = (XCAP / 4u + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;
    vec4 o[NI], rr[NI], ga[NI], gb[NI];
    float ss = 0.0;
    [[unroll]] for (uint k = 0u; k < NI; k++) {
        uint i = min(gl_LocalInvocationID.x + k * gl_WorkGroupSize.x, n4 - 1u);
        o[k] = x4[i];
        rr[k] = r4[i];
        ga[k] = g1[i];
        gb[k] = g2[i];
    }
    [[unroll]] for (uint k = 0u; k < NI; k++) {
        if (gl_LocalInvocationID.x + k * gl_WorkGroupSize.x < n4) {
            ss += dot(o[k], o[k]);
        }
    }
    float rs1 = inversesqrt(workgroup_sum(ss) / float(pc.cols) + pc.eps);
    float ss2 = 0.0;
    [[unroll]] for (uint k = 0u; k < NI; k++) {
        uint i = gl_LocalInvocationID.x + k * gl_WorkGroupSize.x;
        if (i < n4) {
            vec4 xn = rr[k] + o[k] * rs1 * ga[k];
            sf[i] = xn * gb[k]; // xval scales it by rs2
            ss2 += dot(xn, xn);
            if (write) {
                xnew[i] = xn;
            }
        }
    }
    // workgroup_sum's barriers also make sf visible to the whole workgroup.
    rs2 = inversesqrt(workgroup_sum(ss2) / float(pc.cols) + pc.eps);
}

// xval is the vec4 i of the product's input.
vec4 xval(uint i) { return sf[i] * rs2; }
#elif !defined(Q8IN)
vec4 xval(uint i) { return x4[i]; }
#endif

#include "q8dot.glsl"

#ifdef GELU
#include "gelu.glsl"
// A second copy of the decoders that reads Wu: q8dot.glsl again with wq
// read as wu and each function it defines (and loads.glsl's) renamed.
#undef Q8DOT_GLSL
#undef LOADS_GLSL
#undef Q8_QK
#undef Q8_QB
#undef Q8_UPB
#define wq wu
#define wq4 wu4
#define q_half qu_half
#define q_f16 qu_f16
#define q_u32 qu_u32
#define q_u64 qu_u64
#define q_u128 qu_u128
#define q8_half_sum q8u_half_sum
#define q8_fifth q8u_fifth
#define q8_unit q8u_unit
#include "q8dot.glsl"
#undef wq
#undef wq4
#undef q_half
#undef q_f16
#undef q_u32
#undef q_u64
#undef q_u128
#undef q8_half_sum
#undef q8_fifth
#undef q8_unit
#endif

// team_sum adds v over the TEAM lanes of a team (a butterfly of XOR
// shuffles: every lane of the team gets the sum).
float team_sum(float v) {
    for (uint o = TEAM >> 1; o > 0u; o >>= 1) {
        v += subgroupShuffleXor(v, o);
    }
    return v;
}

// q8_block quantizes the vec4 v of each of 8 consecutive lanes (lanes
// 8k ... 8k+7 holding a block of 32 values, in order) as kernels.QuantizeQ8
// does: words, in lanes 4j, the int8 words of lanes 4j ... 4j+3 (an entry
// of sx); blk, in lanes 8k, the block's entry of sb. Every lane of the
// subgroup calls it together.
void q8_block(vec4 v, out uvec4 words, out uvec2 blk) {
    vec4 a = abs(v);
    float amax = max(max(a.x, a.y), max(a.z, a.w));
    amax = max(amax, subgroupShuffleXor(amax, 1u));
    amax = max(amax, subgroupShuffleXor(amax, 2u));
    amax = max(amax, subgroupShuffleXor(amax, 4u));
    float id = amax > 0.0 ? 127.0 / amax : 0.0;
    ivec4 q = ivec4(roundEven(v * id));
    uint word = (uint(q.x) & 0xFFu) | ((uint(q.y) & 0xFFu) << 8) | ((uint(q.z) & 0xFFu) << 16) | (uint(q.w) << 24);
    int sum = q.x + q.y + q.z + q.w;
    sum += subgroupShuffleXor(sum, 1u);
    sum += subgroupShuffleXor(sum, 2u);
    int other = subgroupShuffleXor(sum, 4u);
    words = uvec4(word, subgroupShuffleXor(word, 1u), subgroupShuffleXor(word, 2u), subgroupShuffleXor(word, 3u));
    blk = uvec2(floatBitsToUint(amax / 127.0), (uint(sum) & 0xFFFFu) | (uint(other) << 16));
}

#ifdef Q8IN
// load_x copies x, a q8 activation, into sx and sb.
void load_x() {
    uint me = gl_LocalInvocationIndex;
    for (uint i = me; i < pc.cols / 16u; i += gl_WorkGroupSize.x) {
        sx[i] = xq4[i];
    }
    for (uint b = me; b < pc.cols / 32u; b += gl_WorkGroupSize.x) {
        sb[b] = xb2[pc.cols / 8u + b];
    }
}
#endif

#ifdef Q8OUT
// store_q8 quantizes the workgroup's WG_ROWS rows of y from sy (its first
// row first, a multiple of 32) into the q8 activation y of pc.rows values.
void store_q8(uint first) {
    barrier(); // sy complete
    uint me = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    for (uint i0 = 0u; i0 < WG_ROWS / 4u; i0 += gl_WorkGroupSize.x) {
        uint i = i0 + me; // vec4 i of the workgroup's rows
        bool ok = i < WG_ROWS / 4u;
        vec4 v = ok ? vec4(sy[4u * i], sy[4u * i + 1u], sy[4u * i + 2u], sy[4u * i + 3u]) : vec4(0.0);
        uvec4 words;
        uvec2 blk;
        q8_block(v, words, blk);
        uint e = first + 4u * i; // its first value in y
        if (ok && (i & 3u) == 0u) {
            yq4[e / 16u] = words;
        }
        if (ok && (i & 7u) == 0u) {
            yb2[pc.rows / 8u + e / 32u] = blk;
        }
    }
}
#endif

#ifndef Q8IN
// quantize_x fills sx and sb from x (see the header). Each invocation
// takes one vec4 of x per step, coalesced; the 8 lanes of a 32-block find
// its largest magnitude and the sums of its halves with XOR shuffles, and
// lanes 4k write the words of four lanes as one entry of sx.
void quantize_x() {
    uint n4 = pc.cols >> 2;
    uint me = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    // The invocation's vec4s are loaded NQ at a time (all of them up to 16
    // steps) before any is quantized, so that a long x (the down product's
    // 10240 values: 10 a lane) costs one memory round trip, not one per
    // step.
    const uint NQA = (XCAP / 4u + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;
    const uint NQ = NQA < 16u ? NQA : 16u;
    for (uint k0 = 0u; k0 * gl_WorkGroupSize.x < n4; k0 += NQ) {
        vec4 xs[NQ];
        [[unroll]] for (uint k = 0u; k < NQ; k++) {
            uint i = (k0 + k) * gl_WorkGroupSize.x + me;
            xs[k] = i < n4 ? xval(i) : vec4(0.0);
        }
        [[unroll]] for (uint k = 0u; k < NQ; k++) {
            // n4 and every subgroup's first index are multiples of 8: a block's
            // lanes are all in range or all out.
            uint i = (k0 + k) * gl_WorkGroupSize.x + me;
            bool ok = i < n4;
            uvec4 words;
            uvec2 blk;
            q8_block(xs[k], words, blk);
            if (ok && (i & 3u) == 0u) {
                sx[i >> 2] = words;
            }
            if (ok && (i & 7u) == 0u) {
                sb[i >> 3] = blk;
            }
        }
    }
}

#endif

void main() {
    uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
#ifdef NORM
    norm_x(pc.write != 0u && g == 0u);
#endif
#ifdef Q8IN
    load_x();
#else
    quantize_x();
#endif
    barrier();
    uint first = g * WG_ROWS;
    uint perSubgroup = gl_SubgroupSize / TEAM;
    uint team = gl_SubgroupID * perSubgroup + gl_SubgroupInvocationID / TEAM;
    uint teams = gl_NumSubgroups * perSubgroup;
    uint lane = gl_SubgroupInvocationID % TEAM;
    uint nb = pc.cols / Q8_QK;
    uint nu = nb * Q8_UPB;
    uint rowBytes = nb * Q8_QB;
    for (uint k = 0u; k < WG_ROWS; k += teams) {
        uint r = first + k + team;
        uint base = min(r, pc.rows - 1u) * rowBytes;
        float acc = 0.0;
#ifdef GELU
        float accu = 0.0;
#endif
        // Two units per step, the second clamped and weighted 0 past the
        // end, so that the loads of both are issued before either's sums.
        for (uint u = lane; u < nu; u += 2u * TEAM) {
            uint v = min(u + TEAM, nu - 1u);
            float keep = u + TEAM < nu ? 1.0 : 0.0;
            uint ba = u / Q8_UPB, bb = v / Q8_UPB;
            float a0 = q8_unit(base + ba * Q8_QB, u % Q8_UPB, ba * Q8_QK);
            float a1 = q8_unit(base + bb * Q8_QB, v % Q8_UPB, bb * Q8_QK);
            acc += a0 + keep * a1;
#ifdef GELU
            float u0 = q8u_unit(base + ba * Q8_QB, u % Q8_UPB, ba * Q8_QK);
            float u1 = q8u_unit(base + bb * Q8_QB, v % Q8_UPB, bb * Q8_QK);
            accu += u0 + keep * u1;
#endif
        }
        acc = team_sum(acc);
#ifdef GELU
        accu = team_sum(accu);
#endif
        if (lane == 0u && k + team < WG_ROWS && r < pc.rows) {
#ifdef GELU
            acc = gelu(acc) * accu;
#endif
#ifdef Q8OUT
            sy[k + team] = acc;
#else
            y[r] = acc;
#endif
        }
    }
#ifdef Q8OUT
    store_q8(first);
#endif
}

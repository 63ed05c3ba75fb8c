#version 450
// Matrix product on cooperative matrices (tensor cores), weights in their
// device layout (prefill):
//
//	y[t][r] = sum_c W[r][c] * x[t][c]    W [rows, cols], x [T, cols], y [T, rows]
//
// The weight tile is decoded (quant.glsl) and x is rounded to f16 as both
// are staged in shared memory; the products are 16x16x16 f16 cooperative
// matrices with f32 accumulation. x is clamped to the f16 range first, so a
// large activation saturates instead of becoming infinite.
//
// Bindings: 0 W (uint words: rows back to back, each cols/QK blocks of QB
// bytes, see quant.glsl; 4-byte aligned start); 1 x f32 [T, cols] as vec4
// (readonly); 2 y f32 [T, rows] with row stride ldy.
// X_F16 (matmul_coop_xh_<type>): x is f16 instead, pairs packed in uint
// words [T, cols/2] (low half first) as the producers' _h variants store
// it, already clamped to the f16 range; read eight halves (16 bytes) at a
// time, it is staged without conversion. cols must then be a multiple of 8
// (every quantized type's block is; F16 and BF16 units are 8 values).
// Push: T, rows, cols, ldy (the stride of y's rows: rows, or more when W is
// a part of a larger weight and y the matching columns of a larger output),
// kparts, pstride: with kparts > 1 the K slices are cut into kparts runs,
// group y = token tile * kparts + run, and run p writes its partial sums to
// y from element p * pstride (matmul_sum adds the runs).
// cols must be a multiple of QK (and so of 4); the units of the last K
// slice past the row's end are zero.
// Spec: 0 workgroup size, ST*SR subgroups; 1 ST, subgroups along tokens;
// 2 SR, subgroups along weight rows.
// Mapping: a workgroup computes BM = 32*ST tokens by BN = 64*SR weight
// rows, rows [m0, m0+BN) with m0 = (z * groups.x + x) * BN (so rows/BN may
// pass 65535), tokens [y*BM, y*BM+BM). Subgroup (st, sr) owns tokens
// [32st, 32st+32) and rows [64sr, 64sr+64) of the tile: 2 x 4 accumulators
// of 16 x 16. Along K a slice of BK = 64 columns at a time: x as a
// row-major [BM][72] f16 tile, W as [BN][72] f16 (read as a column-major
// K x N matrix), each four halves stored as one f16vec4; the next slice of
// x is loaded into registers while the current one is multiplied.
// Interior 16 x 16 blocks of y are stored directly; blocks on the edge of T
// or rows pass through a per-subgroup f32 staging tile.
//! variant matmul_coop_f32 TYPE_F32
//! variant matmul_coop_f16 TYPE_F16
//! variant matmul_coop_bf16 TYPE_BF16
//! variant matmul_coop_q4_0 TYPE_Q4_0
//! variant matmul_coop_q4_1 TYPE_Q4_1
//! variant matmul_coop_q5_0 TYPE_Q5_0
//! variant matmul_coop_q5_1 TYPE_Q5_1
//! variant matmul_coop_q8_0 TYPE_Q8_0
//! variant matmul_coop_q2_k TYPE_Q2_K
//! variant matmul_coop_q3_k TYPE_Q3_K
//! variant matmul_coop_q4_k TYPE_Q4_K
//! variant matmul_coop_q5_k TYPE_Q5_K
//! variant matmul_coop_q6_k TYPE_Q6_K
//! variant matmul_coop_xh_f16 TYPE_F16 X_F16
//! variant matmul_coop_xh_bf16 TYPE_BF16 X_F16
//! variant matmul_coop_xh_q4_0 TYPE_Q4_0 X_F16
//! variant matmul_coop_xh_q4_1 TYPE_Q4_1 X_F16
//! variant matmul_coop_xh_q5_0 TYPE_Q5_0 X_F16
//! variant matmul_coop_xh_q5_1 TYPE_Q5_1 X_F16
//! variant matmul_coop_xh_q8_0 TYPE_Q8_0 X_F16
//! variant matmul_coop_xh_q2_k TYPE_Q2_K X_F16
//! variant matmul_coop_xh_q3_k TYPE_Q3_K X_F16
//! variant matmul_coop_xh_q4_k TYPE_Q4_K X_F16
//! variant matmul_coop_xh_q5_k TYPE_Q5_K X_F16
//! variant matmul_coop_xh_q6_k TYPE_Q6_K X_F16
//! requires coopmat
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ST = 4;
layout(constant_id = 2) const uint SR = 1;

layout(binding = 0) readonly buffer W { uint wq[]; };
#ifdef X_F16
layout(binding = 1) readonly buffer X { uvec4 x8[]; };
#else
layout(binding = 1) readonly buffer X { vec4 x4[]; };
#endif
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint T;
    uint rows;
    uint cols;
    uint ldy;
    uint kparts; // runs of K the workgroups of a tile split (1: none)
    uint pstride; // elements between the outputs of two runs
} pc;

#include "quant.glsl"

const uint BK = 64u;
// Row stride of both tiles in f16vec4 units (72 halves, 144 bytes): the pad
// spreads a column's rows over the banks. Offsets and strides of the
// cooperative loads count f16vec4s, the arrays' element type.
const uint SA4 = BK / 4u + 2u;
const uint BM = 32u * ST;
const uint BN = 64u * SR;
const float F16_MAX = 65504.0;
const uint EU = 4u * uint(QV); // elements per decoded unit
const uint UT = BK / EU;       // units per row of a tile

shared f16vec4 shX[BM * SA4];
shared f16vec4 shW[BN * SA4];
shared float shStage[ST * SR * 256u];

#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>

// w_at decodes unit e of the weight tile of rows [m0, m0+BN), columns
// [k0, k0+BK) into v; consecutive e are consecutive units of a row (the
// tile's row e / UT). Rows past the end repeat the last one and units past
// the row's end are zero; neither is ever stored to y. No branch: the
// caller keeps these loads in one block with the products they overlap.
void w_at(uint e, uint k0, uint m0, uint nu, uint rowBytes, out vec4 v[QV]) {
    uint n = min(e / UT, BN - 1u);
    uint gu = k0 / EU + e % UT;
    uint gc = min(gu, nu - 1u);
    q_unit(min(m0 + n, pc.rows - 1u) * rowBytes + (gc / QU) * QB, gc % QU, v);
    [[unroll]] for (uint k = 0u; k < QV; k++) {
        v[k] = gu < nu ? v[k] : vec4(0.0);
    }
}

// XL is the x columns one invocation loads at a time: 4 floats, or 8
// halves (16 bytes either way); XS is the loads per token of a slice.
#ifdef X_F16
const uint XL = 8u;
#define XREG uvec4
#else
const uint XL = 4u;
#define XREG f16vec4
#endif
const uint XS = BK / XL;

// x_at is load e of x's slice at tokens [t0, t0+BM), columns [k0, k0+BK):
// token t0 + e / XS, columns k0 + XL*(e % XS); f32 x rounded to f16
// (clamped to its range), f16 x as its raw words; zero outside x.
XREG x_at(uint e, uint t0, uint k0, uint cols) {
    uint m = e / XS, kl = e % XS;
    if (m < BM && t0 + m < pc.T && k0 + kl * XL < cols) {
#ifdef X_F16
        return x8[((t0 + m) * cols + k0) / 8u + kl];
#else
        return f16vec4(clamp(x4[((t0 + m) * cols + k0) / 4u + kl], -F16_MAX, F16_MAX));
#endif
    }
    return XREG(0);
}

// x_stage puts load e of x's slice (x_at) in the shared tile.
void x_stage(uint e, XREG v) {
    uint at = (e / XS) * SA4 + (e % XS) * (XL / 4u);
#ifdef X_F16
    shX[at] = f16vec4(unpackFloat2x16(v.x), unpackFloat2x16(v.y));
    shX[at + 1u] = f16vec4(unpackFloat2x16(v.z), unpackFloat2x16(v.w));
#else
    shX[at] = v;
#endif
}

// fetch loads the slice of x (rounded to f16) and decodes the weight tile
// at column k0 into the registers xr and wr (see main).
#define fetch(xr, wr, k0, t0, m0, nu, rowBytes)                              \
    [[unroll]] for (uint i = 0u; i < XR; i++) {                              \
        xr[i] = x_at(tid + i * NT, t0, k0, pc.cols);                         \
    }                                                                        \
    [[unroll]] for (uint i = 0u; i < WR; i++) {                              \
        vec4 v[QV];                                                          \
        w_at(tid + i * NT, k0, m0, nu, rowBytes, v);                         \
        [[unroll]] for (uint k = 0u; k < QV; k++) {                          \
            wr[i * QV + k] = f16vec4(v[k]);                                  \
        }                                                                    \
    }

void main() {
    uint m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BN;
    if (m0 >= pc.rows) {
        return;
    }
    uint part = gl_WorkGroupID.y % pc.kparts;
    uint t0 = gl_WorkGroupID.y / pc.kparts * BM;
    // This workgroup's run of K: whole slices, the runs as even as they go.
    uint slices = (pc.cols + BK - 1u) / BK;
    uint per = (slices + pc.kparts - 1u) / pc.kparts;
    uint kBegin = min(part * per, slices) * BK;
    uint kEnd = min((part + 1u) * per * BK, pc.cols);
    uint yoff = part * pc.pstride;
    uint tid = gl_LocalInvocationID.x;
    uint NT = gl_WorkGroupSize.x;
    uint sg = gl_SubgroupID;
    uint st = sg % ST, sr = sg / ST;

    uint nb = pc.cols / QK;
    uint nu = nb * QU;
    uint rowBytes = nb * QB;

    ACC acc[2][4];
    [[unroll]] for (uint i = 0u; i < 2u; i++) {
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            acc[i][j] = ACC(0.0);
        }
    }

    // The next slice of x and of W wait in registers while the current one
    // is multiplied: entry i of invocation l is load l + i*WG of the x
    // slice (x_at), so XS consecutive invocations read a token's 64
    // columns, and unit l + i*WG of the weight tile (w_at). The last
    // slice's loads repeat it and are never stored.
    const uint XR = (BM * XS + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;
    const uint WR = (BN * UT + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;
    XREG xr[XR];
    f16vec4 wr[WR * QV];
    uint kLast = kEnd > kBegin ? (kEnd - 1u) / BK * BK : kBegin;
    fetch(xr, wr, kBegin, t0, m0, nu, rowBytes);
    for (uint k0 = kBegin; k0 < kEnd; k0 += BK) {
        [[unroll]] for (uint i = 0u; i < XR; i++) {
            uint e = tid + i * NT;
            if (e < BM * XS) {
                x_stage(e, xr[i]);
            }
        }
        [[unroll]] for (uint i = 0u; i < WR; i++) {
            uint e = tid + i * NT;
            if (e < BN * UT) {
                uint n = e / UT;
                uint gu = k0 / EU + e % UT;
                [[unroll]] for (uint k = 0u; k < QV; k++) {
                    shW[n * SA4 + ((gu / QU) * QK + q_pos(gu % QU, k) - k0) / 4u] = wr[i * QV + k];
                }
            }
        }
        barrier();
        fetch(xr, wr, min(k0 + BK, kLast), t0, m0, nu, rowBytes);
        [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a[2];
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b[4];
            [[unroll]] for (uint i = 0u; i < 2u; i++) {
                coopMatLoad(a[i], shX, (32u * st + 16u * i) * SA4 + kk / 4u, SA4, gl_CooperativeMatrixLayoutRowMajor);
            }
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                coopMatLoad(b[j], shW, (64u * sr + 16u * j) * SA4 + kk / 4u, SA4, gl_CooperativeMatrixLayoutColumnMajor);
            }
            [[unroll]] for (uint i = 0u; i < 2u; i++) {
                [[unroll]] for (uint j = 0u; j < 4u; j++) {
                    acc[i][j] = coopMatMulAdd(a[i], b[j], acc[i][j]);
                }
            }
        }
        barrier();
    }

    uint lane = gl_SubgroupInvocationID;
    [[unroll]] for (uint i = 0u; i < 2u; i++) {
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint t = t0 + 32u * st + 16u * i;
            uint r = m0 + 64u * sr + 16u * j;
            if (t + 16u <= pc.T && r + 16u <= pc.rows) {
                coopMatStore(acc[i][j], y, yoff + t * pc.ldy + r, pc.ldy, gl_CooperativeMatrixLayoutRowMajor);
            } else if (t < pc.T && r < pc.rows) {
                coopMatStore(acc[i][j], shStage, sg * 256u, 16u, gl_CooperativeMatrixLayoutRowMajor);
                subgroupMemoryBarrierShared();
                for (uint e = lane; e < 256u; e += gl_SubgroupSize) {
                    uint tt = t + e / 16u, rr = r + e % 16u;
                    if (tt < pc.T && rr < pc.rows) {
                        y[yoff + tt * pc.ldy + rr] = shStage[sg * 256u + e];
                    }
                }
                subgroupMemoryBarrierShared();
            }
        }
    }
}

#version 450
// Matrix product with a weight in its device layout (prefill):
//
//	y[t][r] = sum_c W[r][c] * x[t][c]    W [rows, cols], x [T, cols], y [T, rows]
//
// f32 accumulation.
//
// Bindings: 0 W (uint words: rows back to back, each cols/QK blocks of QB
// bytes, see quant.glsl; 4-byte aligned start); 1 x f32 [T, cols]
// (readonly); 2 y f32 [T, rows].
// Push: T, rows, cols, ldy (the stride of y's rows: rows, or more when W is
// a part of a larger weight and y the matching columns of a larger output).
// Spec: 0 workgroup size, (BM/4)*(BN/4); 1 BM, weight rows per tile;
// 2 BN, tokens per tile (both multiples of 4).
// Mapping: workgroup (x, y, z) computes rows [m0, m0+BM) with
// m0 = (z * groups.x + x) * BM (so rows/BM may pass 65535) and tokens
// [y*BN, y*BN+BN). For each 64-wide slice of cols it decodes the BM x 64
// weight tile once into shared memory (one unit per task, quant.glsl),
// stages the BN x 64 slice of x, and each invocation adds a 4 x 4 block of
// products: rows tx + i*(BM/4), tokens ty + j*(BN/4), tx = id % (BM/4),
// ty = id / (BM/4). Shared memory: 64*BM + 64*(BN+1) floats.
//! variant matmul_f32 TYPE_F32
//! variant matmul_f16 TYPE_F16
//! variant matmul_bf16 TYPE_BF16
//! variant matmul_q4_0 TYPE_Q4_0
//! variant matmul_q4_1 TYPE_Q4_1
//! variant matmul_q5_0 TYPE_Q5_0
//! variant matmul_q5_1 TYPE_Q5_1
//! variant matmul_q8_0 TYPE_Q8_0
//! variant matmul_q2_k TYPE_Q2_K
//! variant matmul_q3_k TYPE_Q3_K
//! variant matmul_q4_k TYPE_Q4_K
//! variant matmul_q5_k TYPE_Q5_K
//! variant matmul_q6_k TYPE_Q6_K
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 32;
const uint BK = 64u;
const uint TM = 4u;
const uint TN = 4u;

layout(binding = 0) readonly buffer W { uint wq[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint T;
    uint rows;
    uint cols;
    uint ldy; // stride of y's rows, >= rows (a part of a larger output)
} pc;

#include "quant.glsl"

// ws[k*BM + m]: weight row m0+m, column k0+k. xs[k*XS + n]: token n0+n,
// column k0+k; the odd stride keeps the column-wise stores off one bank.
const uint XS = BN + 1u;
shared float ws[BK * BM];
shared float xs[BK * XS];

void main() {
    uint m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BM;
    if (m0 >= pc.rows) {
        return;
    }
    uint n0 = gl_WorkGroupID.y * BN;
    uint tid = gl_LocalInvocationID.x;
    uint NT = gl_WorkGroupSize.x;
    const uint MX = BM / TM;
    const uint NX = BN / TN;
    uint tx = tid % MX;
    uint ty = tid / MX;

    uint nb = pc.cols / QK;
    uint nu = nb * QU;
    uint rowBytes = nb * QB;
    const uint EU = 4u * uint(QV); // elements per unit
    const uint UT = BK / EU;       // units per row of a tile

    float acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; i++) {
        [[unroll]] for (uint j = 0u; j < TN; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (uint k0 = 0u; k0 < pc.cols; k0 += BK) {
#ifdef Q_PLAIN
        if (pc.cols % QK != 0u) {
            for (uint e = tid; e < BM * BK; e += NT) {
                uint m = e % BM, k = e / BM;
                float v = 0.0;
                if (k0 + k < pc.cols) {
                    v = q_elem(min(m0 + m, pc.rows - 1u) * pc.cols + k0 + k);
                }
                ws[k * BM + m] = v;
            }
        } else
#endif
        for (uint e = tid; e < BM * UT; e += NT) {
            uint m = e % BM;
            uint gu = k0 / EU + e / BM;
            uint blk = gu / QU;
            uint u = gu % QU;
            vec4 v[QV];
            if (gu < nu) {
                // Rows past the end repeat the last one; never stored.
                q_unit(min(m0 + m, pc.rows - 1u) * rowBytes + blk * QB, u, v);
            } else {
                [[unroll]] for (uint k = 0u; k < QV; k++) {
                    v[k] = vec4(0.0);
                }
            }
            [[unroll]] for (uint k = 0u; k < QV; k++) {
                uint p = blk * QK + q_pos(u, k) - k0;
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    ws[(p + i) * BM + m] = v[k][i];
                }
            }
        }
        for (uint e = tid; e < BN * BK; e += NT) {
            uint k = e % BK, n = e / BK;
            float v = 0.0;
            if (k0 + k < pc.cols && n0 + n < pc.T) {
                v = x[(n0 + n) * pc.cols + k0 + k];
            }
            xs[k * XS + n] = v;
        }
        barrier();
        [[unroll]] for (uint k = 0u; k < BK; k++) {
            float a[TM], b[TN];
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                a[i] = ws[k * BM + tx + i * MX];
            }
            [[unroll]] for (uint j = 0u; j < TN; j++) {
                b[j] = xs[k * XS + ty + j * NX];
            }
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                [[unroll]] for (uint j = 0u; j < TN; j++) {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
        barrier();
    }

    [[unroll]] for (uint i = 0u; i < TM; i++) {
        uint r = m0 + tx + i * MX;
        [[unroll]] for (uint j = 0u; j < TN; j++) {
            uint t = n0 + ty + j * NX;
            if (r < pc.rows && t < pc.T) {
                y[t * pc.ldy + r] = acc[i][j];
            }
        }
    }
}

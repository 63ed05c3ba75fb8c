#version 450
// Matrix-matrix product on cooperative matrices (tensor cores):
//   y[t][r] = sum_c x[t][c] * W[r][c]
// with x f32 [T, C] rounded to f16 as it is staged, W f16 [R, C] (the
// row-major elements packed two per 32-bit word: element i in bits
// 16*(i&1) of word i/2), f32 accumulation, y f32 [T, R].
//
// Bindings: 0 W f16 [R, C] as uint words (readonly); 1 x f32 [T, C]
// (readonly); 2 y f32 [T, R].
// Push: T, R, C.  Spec: 0 workgroup size (4 subgroups).
// Mapping: a workgroup computes a BM x BN = 64 x 64 tile of y, one BK = 32
// slice of C at a time staged in shared memory as f16 (A: x tile row-major
// [BM][BK]; B: W tile [BN][BK], read as a column-major K x N matrix). Each
// of the four subgroups owns a 32 x 32 quarter: 2 x 2 accumulators of
// 16 x 16. Edges are zero-filled on load and masked on store through a
// shared f32 staging tile, so T, R and C need not be tile multiples.
//! variant matmul_coopmat_f16
//! requires coopmat
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer W { uint w[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint T;
    uint R;
    uint C;
} pc;

const uint BM = 64, BN = 64, BK = 32;
const uint PAD = 8; // keeps shared rows off a single bank set
const uint SA = BK + PAD;

shared float16_t shA[BM * SA];
shared float16_t shB[BN * SA];
shared float shC[4][32 * 32];

float16_t weight(uint r, uint c) {
    uint i = r * pc.C + c;
    uint word = w[i >> 1];
    return float16_t(unpackHalf2x16(word)[i & 1]);
}

void main() {
    uint t0 = gl_WorkGroupID.y * BM;
    uint r0 = gl_WorkGroupID.x * BN;
    uint sg = gl_SubgroupID;            // 0..3
    uint sm = (sg >> 1) * 32;           // this subgroup's rows within the tile
    uint sn = (sg & 1) * 32;            // and columns
    uint lid = gl_LocalInvocationID.x;
    uint nthreads = gl_WorkGroupSize.x;

    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc[2][2];
    [[unroll]] for (int i = 0; i < 2; i++) {
        [[unroll]] for (int j = 0; j < 2; j++) {
            acc[i][j] = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
        }
    }

    for (uint k0 = 0; k0 < pc.C; k0 += BK) {
        for (uint e = lid; e < BM * BK; e += nthreads) {
            uint m = e / BK, k = e % BK;
            uint t = t0 + m, c = k0 + k;
            shA[m * SA + k] = (t < pc.T && c < pc.C) ? float16_t(x[t * pc.C + c]) : float16_t(0.0);
        }
        for (uint e = lid; e < BN * BK; e += nthreads) {
            uint n = e / BK, k = e % BK;
            uint r = r0 + n, c = k0 + k;
            shB[n * SA + k] = (r < pc.R && c < pc.C) ? weight(r, c) : float16_t(0.0);
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a[2];
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b[2];
            [[unroll]] for (int i = 0; i < 2; i++) {
                coopMatLoad(a[i], shA, (sm + 16 * i) * SA + kk, SA, gl_CooperativeMatrixLayoutRowMajor);
                coopMatLoad(b[i], shB, (sn + 16 * i) * SA + kk, SA, gl_CooperativeMatrixLayoutColumnMajor);
            }
            [[unroll]] for (int i = 0; i < 2; i++) {
                [[unroll]] for (int j = 0; j < 2; j++) {
                    acc[i][j] = coopMatMulAdd(a[i], b[j], acc[i][j]);
                }
            }
        }
        barrier();
    }

    [[unroll]] for (int i = 0; i < 2; i++) {
        [[unroll]] for (int j = 0; j < 2; j++) {
            coopMatStore(acc[i][j], shC[sg], (16 * i) * 32 + 16 * j, 32, gl_CooperativeMatrixLayoutRowMajor);
        }
    }
    barrier();
    for (uint e = gl_SubgroupInvocationID; e < 32 * 32; e += gl_SubgroupSize) {
        uint m = e / 32, n = e % 32;
        uint t = t0 + sm + m, r = r0 + sn + n;
        if (t < pc.T && r < pc.R) {
            y[t * pc.R + r] = shC[sg][e];
        }
    }
}

#version 450
// Matrix-vector product with a weight in its device layout (decode step):
//
//	y[r] = sum_c W[r][c] * x[c]      W [rows, cols], f32 accumulation
//
// Bindings: 0 W (uint words: rows back to back, each cols/QK blocks of QB
// bytes, see quant.glsl; 4-byte aligned start); 1 x f32 [cols] (readonly);
// 2 y f32 [rows].
// Push: rows, cols.
// Spec: 0 workgroup size (a multiple of the subgroup size); 1 ROWS, rows per
// subgroup; 2 WG_ROWS, rows per workgroup (a multiple of ROWS); 3 UNROLL,
// units a lane takes per loop step.
// Mapping: workgroup g = group.y * groups.x + group.x owns rows
// [g*WG_ROWS, (g+1)*WG_ROWS); its subgroups take ROWS of them at a time
// (looping if the device made fewer subgroups than the lowering assumed).
// A subgroup is a team: lane l takes units l, l + S, l + 2S, ... of the
// row (S = subgroup size, QU units per block, quant.glsl), so the lanes
// read consecutive words; each lane loads the x values of its unit once
// and uses them for all ROWS rows. Then subgroupAdd per row. Rows whose
// length is not a multiple of QK (plain types only) take an element loop.
//
// GELU variants (matvec_gelu_<type>), the gated MLP product of one token:
//
//	y[r] = gelu(Wg[r] · x) * (Wu[r] · x)   Wg, Wu [rows, cols] of one type
//
// Bindings: 0 Wg (uint words, as W); 1 Wu (uint words, as W); 2 x f32
// [cols]; 3 y f32 [rows]. Push, spec and mapping as above; each lane's x
// values serve the unit of both weights in each of its ROWS rows, and
// lane 0 writes gelu(gate) * up (gelu.glsl, as elementwise's gelu_mul).
//! variant matvec_f32 TYPE_F32
//! variant matvec_f16 TYPE_F16
//! variant matvec_bf16 TYPE_BF16
//! variant matvec_q4_0 TYPE_Q4_0
//! variant matvec_q4_1 TYPE_Q4_1
//! variant matvec_q5_0 TYPE_Q5_0
//! variant matvec_q5_1 TYPE_Q5_1
//! variant matvec_q8_0 TYPE_Q8_0
//! variant matvec_q2_k TYPE_Q2_K
//! variant matvec_q3_k TYPE_Q3_K
//! variant matvec_q4_k TYPE_Q4_K
//! variant matvec_q5_k TYPE_Q5_K
//! variant matvec_q6_k TYPE_Q6_K
//! variant matvec_gelu_f32 TYPE_F32 GELU
//! variant matvec_gelu_f16 TYPE_F16 GELU
//! variant matvec_gelu_bf16 TYPE_BF16 GELU
//! variant matvec_gelu_q4_0 TYPE_Q4_0 GELU
//! variant matvec_gelu_q4_1 TYPE_Q4_1 GELU
//! variant matvec_gelu_q5_0 TYPE_Q5_0 GELU
//! variant matvec_gelu_q5_1 TYPE_Q5_1 GELU
//! variant matvec_gelu_q8_0 TYPE_Q8_0 GELU
//! variant matvec_gelu_q2_k TYPE_Q2_K GELU
//! variant matvec_gelu_q3_k TYPE_Q3_K GELU
//! variant matvec_gelu_q4_k TYPE_Q4_K GELU
//! variant matvec_gelu_q5_k TYPE_Q5_K GELU
//! variant matvec_gelu_q6_k TYPE_Q6_K GELU
//! requires subgroup
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 1;
layout(constant_id = 2) const uint WG_ROWS = 1;
layout(constant_id = 3) const uint UNROLL = 1;

#ifdef GELU
layout(binding = 0) readonly buffer W { uint wq[]; };
layout(binding = 1) readonly buffer WU { uint wu[]; };
layout(binding = 2) readonly buffer X { float x1[]; };
layout(binding = 2) readonly buffer X4 { vec4 x4[]; };
layout(binding = 3) writeonly buffer Y { float y[]; };
#else
layout(binding = 0) readonly buffer W { uint wq[]; };
layout(binding = 1) readonly buffer X { float x1[]; };
layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform Push {
    uint rows;
    uint cols;
} pc;

#include "quant.glsl"

#ifdef GELU
#include "gelu.glsl"
// A second copy of the decoders that reads Wu: quant.glsl again with wq
// read as wu and each name it defines given a qu_ prefix (q_unit is
// qu_unit). A name missing here makes the second copy a redefinition, so
// the variant fails to compile rather than read the wrong weight. Its
// macros (QK, QB, ...) come out identical and are redefined as such.
#undef QUANT_GLSL
#undef LOADS_GLSL
#define wq wu
#define q_half qu_half
#define q_f16 qu_f16
#define q_u32 qu_u32
#define q_u64 qu_u64
#define q_u128 qu_u128
#define q_bits qu_bits
#define q_float qu_float
#define q_bf16x2 qu_bf16x2
#define q_pos qu_pos
#define q_unit qu_unit
#define q_elem qu_elem
#define q_sbyte qu_sbyte
#define q_scale_min qu_scale_min
#include "quant.glsl"
#undef wq
#undef q_half
#undef q_f16
#undef q_u32
#undef q_u64
#undef q_u128
#undef q_bits
#undef q_float
#undef q_bf16x2
#undef q_pos
#undef q_unit
#undef q_elem
#undef q_sbyte
#undef q_scale_min
#endif

void main() {
    uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint first = g * WG_ROWS;
    uint end = min(first + WG_ROWS, pc.rows);
    uint lane = gl_SubgroupInvocationID;
    uint S = gl_SubgroupSize;
    uint nb = pc.cols / QK;
    uint nu = nb * QU;
    uint rowBytes = nb * QB;
    for (uint r0 = first + gl_SubgroupID * ROWS; r0 < end; r0 += gl_NumSubgroups * ROWS) {
        float acc[ROWS];
#ifdef GELU
        float accu[ROWS];
#endif
        uint base[ROWS];
        [[unroll]] for (uint r = 0u; r < ROWS; r++) {
            acc[r] = 0.0;
#ifdef GELU
            accu[r] = 0.0;
#endif
            // Rows past the end repeat the last one (cached) and are not stored.
            base[r] = min(r0 + r, pc.rows - 1u) * rowBytes;
        }
#ifdef Q_PLAIN
        if (pc.cols % QK != 0u) {
            for (uint c = lane; c < pc.cols; c += S) {
                float xc = x1[c];
                [[unroll]] for (uint r = 0u; r < ROWS; r++) {
                    acc[r] += q_elem(min(r0 + r, pc.rows - 1u) * pc.cols + c) * xc;
#ifdef GELU
                    accu[r] += qu_elem(min(r0 + r, pc.rows - 1u) * pc.cols + c) * xc;
#endif
                }
            }
        } else
#endif
        for (uint u0 = lane; u0 < nu; u0 += S * UNROLL) {
            [[unroll]] for (uint t = 0u; t < UNROLL; t++) {
                uint gu = u0 + t * S;
                if (gu < nu) {
                    uint blk = gu / QU;
                    uint u = gu % QU;
                    uint xb = (blk * QK) >> 2;
                    vec4 xv[QV];
                    [[unroll]] for (uint k = 0u; k < QV; k++) {
                        xv[k] = x4[xb + (q_pos(u, k) >> 2)];
                    }
                    [[unroll]] for (uint r = 0u; r < ROWS; r++) {
                        vec4 v[QV];
                        q_unit(base[r] + blk * QB, u, v);
#ifdef GELU
                        vec4 vu[QV];
                        qu_unit(base[r] + blk * QB, u, vu);
#endif
                        [[unroll]] for (uint k = 0u; k < QV; k++) {
                            acc[r] += dot(v[k], xv[k]);
#ifdef GELU
                            accu[r] += dot(vu[k], xv[k]);
#endif
                        }
                    }
                }
            }
        }
        [[unroll]] for (uint r = 0u; r < ROWS; r++) {
            float s = subgroupAdd(acc[r]);
#ifdef GELU
            float su = subgroupAdd(accu[r]);
#endif
            if (lane == 0u && r0 + r < end) {
#ifdef GELU
                s = gelu(s) * su;
#endif
                y[r0 + r] = s;
            }
        }
    }
}

#version 450
// Embedding gather with scale, from a table in its device layout:
//
//	y[t][j] = E[ids[t]][j] * scale      E [vocab, cols]
//
// An id outside [0, vocab) fills its row of y with NaN (0x7FC00000), so a
// bad id shows instead of reading another row.
//
// A table too large for one binding is gathered in parts: E is then rows
// [base, base + vocab) of the table, ids are taken relative to base, and
// with partial set an id outside the part leaves its row alone (another
// part writes it).
//
// Bindings: 0 E (uint words: rows back to back, each cols/QK blocks of QB
// bytes, see quant.glsl; 4-byte aligned start); 1 ids int32 [T]
// (readonly); 2 y f32 [T, cols].
// Push: T, vocab, cols, scale, base, partial.  Spec: 0 workgroup size.
// Mapping: one workgroup per token (t = group.y * groups.x + group.x, so T
// may pass 65535); invocations take the units of the row (quant.glsl) in
// turn and store their 4-element runs; rows whose length is not a
// multiple of QK (plain types only) are copied element by element.
//! variant embed_f32 TYPE_F32
//! variant embed_f16 TYPE_F16
//! variant embed_bf16 TYPE_BF16
//! variant embed_q4_0 TYPE_Q4_0
//! variant embed_q4_1 TYPE_Q4_1
//! variant embed_q5_0 TYPE_Q5_0
//! variant embed_q5_1 TYPE_Q5_1
//! variant embed_q8_0 TYPE_Q8_0
//! variant embed_q2_k TYPE_Q2_K
//! variant embed_q3_k TYPE_Q3_K
//! variant embed_q4_k TYPE_Q4_K
//! variant embed_q5_k TYPE_Q5_K
//! variant embed_q6_k TYPE_Q6_K
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer E { uint wq[]; };
layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 2) writeonly buffer Y { float y1[]; };
layout(binding = 2) writeonly buffer Y4 { vec4 y4[]; };

layout(push_constant) uniform Push {
    uint T;
    uint vocab;
    uint cols;
    float scale;
    int base;
    uint partial;
} pc;

#include "quant.glsl"

void main() {
    uint t = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (t >= pc.T) {
        return;
    }
    uint out0 = t * pc.cols;
    int id = ids[t] - pc.base;
    if (id < 0 || uint(id) >= pc.vocab) {
        if (pc.partial != 0u) {
            return;
        }
        for (uint j = gl_LocalInvocationID.x; j < pc.cols; j += gl_WorkGroupSize.x) {
            y1[out0 + j] = uintBitsToFloat(0x7FC00000u);
        }
        return;
    }
#ifdef Q_PLAIN
    if (pc.cols % QK != 0u) {
        uint e0 = uint(id) * pc.cols;
        for (uint j = gl_LocalInvocationID.x; j < pc.cols; j += gl_WorkGroupSize.x) {
            y1[out0 + j] = q_elem(e0 + j) * pc.scale;
        }
        return;
    }
#endif
    uint nb = pc.cols / QK;
    uint row = uint(id) * nb * QB;
    for (uint gu = gl_LocalInvocationID.x; gu < nb * QU; gu += gl_WorkGroupSize.x) {
        uint blk = gu / QU;
        uint u = gu % QU;
        vec4 v[QV];
        q_unit(row + blk * QB, u, v);
        uint o4 = (out0 + blk * QK) >> 2;
        for (uint k = 0u; k < QV; k++) {
            y4[o4 + (q_pos(u, k) >> 2)] = v[k] * pc.scale;
        }
    }
}

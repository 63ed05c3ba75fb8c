#version 450
// Combine pass of split-K attention (attention.comp with SPLIT): merges the
// partial softmax of each split s of a row,
//
//   M = max_s m_s,  w_s = exp(m_s - M),  out[d] = Σ_s w_s o_s[d] / Σ_s w_s l_s
//
// where a split that saw no key has m_s = MASKED (-3e38), l_s = 0, o_s = 0
// and gets w_s = 0.
//
// Bindings: 0 scratch f32 [R, S, D+2] readonly (per record: m, l, o[D]);
//           1 out f32 [R, D].
// Push: R, S, D.  Spec: 0 workgroup size.
// Mapping: one workgroup per row (row = group.y * groups.x + group.x);
// invocations stride the D outputs, each recomputing M and the weights.
//! variant attention_combine

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Scratch { float scratch[]; };
layout(binding = 1) writeonly buffer Out { float outp[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint splits;
    uint dim;
} pc;

#define MASKED (-3.0e38)

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.rows) {
        return;
    }
    uint rec = pc.dim + 2;
    uint base = row * pc.splits * rec;
    float mx = MASKED;
    for (uint s = 0; s < pc.splits; s++) {
        mx = max(mx, scratch[base + s * rec]);
    }
    float l = 0.0;
    for (uint s = 0; s < pc.splits; s++) {
        float m = scratch[base + s * rec];
        if (m != MASKED) {
            l += exp(m - mx) * scratch[base + s * rec + 1];
        }
    }
    float inv = 1.0 / l;
    for (uint d = gl_LocalInvocationID.x; d < pc.dim; d += gl_WorkGroupSize.x) {
        float acc = 0.0;
        for (uint s = 0; s < pc.splits; s++) {
            float m = scratch[base + s * rec];
            if (m != MASKED) {
                acc += exp(m - mx) * scratch[base + s * rec + 2 + d];
            }
        }
        outp[row * pc.dim + d] = acc * inv;
    }
}

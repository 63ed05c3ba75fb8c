#version 450
// Combine pass of split-K attention (attention.comp with SPLIT): merges the
// partial softmax of each split s of a row,
//
//   M = max_s m_s,  w_s = exp(m_s - M),  out[d] = Σ_s w_s o_s[d] / Σ_s w_s l_s
//
// where a split that saw no key has m_s = MASKED (-3e38), l_s = 0, o_s = 0,
// so that its w_s is 0 and adds nothing.
//
// Bindings: 0 scratch f32 [R, S, D+2] readonly (per record: m, l, o[D]);
//           1 out f32 [R, D].
// Push: R, S (at most MAXS), D.  Spec: 0 workgroup size.
// Mapping: group (x + y·groups.x, z) = (row, slice z of the row's D values,
// one value per invocation). The workgroup first reads the S maxima and
// sums into shared memory and turns them into weights; each invocation
// then adds its value over the splits with loads that do not wait on one
// another, skipping the splits of weight 0 (no keys: most of them in a
// short context, since the split count is fixed by the cache size).
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
#define MAXS 256u

shared float ws[MAXS]; // m_s, then w_s
shared float ls[MAXS]; // l_s

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= pc.rows) {
        return;
    }
    uint rec = pc.dim + 2u;
    uint base = row * pc.splits * rec;
    for (uint s = gl_LocalInvocationID.x; s < pc.splits; s += gl_WorkGroupSize.x) {
        ws[s] = scratch[base + s * rec];
        ls[s] = scratch[base + s * rec + 1u];
    }
    barrier();
    float mx = MASKED;
    for (uint s = 0u; s < pc.splits; s++) {
        mx = max(mx, ws[s]);
    }
    barrier();
    for (uint s = gl_LocalInvocationID.x; s < pc.splits; s += gl_WorkGroupSize.x) {
        ws[s] = ws[s] == MASKED ? 0.0 : exp(ws[s] - mx);
    }
    barrier();
    float l = 0.0;
    for (uint s = 0u; s < pc.splits; s++) {
        l += ws[s] * ls[s];
    }
    uint d = gl_WorkGroupID.z * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (d >= pc.dim) {
        return;
    }
    float acc = 0.0;
    uint o = base + 2u + d;
    for (uint s = 0u; s < pc.splits; s++) {
        if (ws[s] != 0.0) { // the same for the whole workgroup; skips empty splits' loads
            acc += ws[s] * scratch[o + s * rec];
        }
    }
    outp[row * pc.dim + d] = acc / l;
}

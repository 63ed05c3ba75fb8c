#version 450
// Unmasked attention without a cache (SigLIP vision encoder, GEMMA3.md
// §6.1): every one of the N tokens sees all N,
//
//   out[t,h] = Σ_j softmax_j(scale · q[t,h]·k[j,h]) · v[j,h]
//
// Bindings: 0 q, 1 k, 2 v f32 [N, H*D] readonly; 3 out f32 [N, H*D].
// Push: N, H, scale.  Spec: 0 workgroup size, 1 D, 2 BR, 3 BC
// (include/attention.glsl).
// Mapping: group (x, y) = (block of BR tokens, head h); the block streams
// all N keys of head h in tiles of BC through shared memory (flash-style).
//! variant attention_full
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) writeonly buffer Out { float outp[]; };

layout(push_constant) uniform Push {
    uint n;
    uint heads;
    float scale;
} pc;

#include "attention.glsl"

bool key_allowed(uint i, uint j) {
    return j < pc.n;
}

// load_tile puts keys (or values) j0 .. j0+BC-1 of head h into kvs, zero
// past the last token.
void load_tile(uint j0, uint h, bool values) {
    uint w = pc.heads * D;
    for (uint idx = gl_LocalInvocationID.x; idx < BC * D; idx += WG) {
        uint c = idx / D;
        uint d = idx - c * D;
        uint j = j0 + c;
        float x = 0.0;
        if (j < pc.n) {
            uint e = j * w + h * D + d;
            x = values ? v[e] : k[e];
        }
        kvs[c * KS + d] = x;
    }
}

void main() {
    uint h = gl_WorkGroupID.y;
    uint t0 = gl_WorkGroupID.x * BR;
    uint w = pc.heads * D;

    flash_init();
    for (uint idx = gl_LocalInvocationID.x; idx < BR * D; idx += WG) {
        uint i = idx / D;
        float x = 0.0;
        if (t0 + i < pc.n) {
            x = q[(t0 + i) * w + h * D + (idx - i * D)] * pc.scale;
        }
        qs[idx] = x;
    }
    barrier();

    for (uint j0 = 0; j0 < pc.n; j0 += BC) {
        load_tile(j0, h, false);
        barrier();
        flash_scores(j0);
        barrier();
        flash_softmax();
        load_tile(j0, h, true);
        barrier();
        flash_accumulate();
        barrier();
    }

    for (uint n = 0; n < NO; n++) {
        uint cell = gl_LocalInvocationID.x + n * WG;
        uint i = cell / D;
        if (cell < BR * D && t0 + i < pc.n) {
            outp[(t0 + i) * w + h * D + (cell - i * D)] = o[n] / row_l[i];
        }
    }
}

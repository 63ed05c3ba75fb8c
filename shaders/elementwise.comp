#version 450
// Elementwise f32 ops, one invocation per element i < n over a 2D grid:
// i = (group.y * groups.x + group.x) * wgsize + local. The output may be
// the same buffer as an input (each element is read, then written, by one
// invocation).
//
//   add_f32       y = a + b        bindings 0 a, 1 b, 2 y;  push n
//   mul_f32       y = a * b        bindings 0 a, 1 b, 2 y;  push n
//   scale_f32     y = x * s        bindings 0 x, 1 y;       push n, s
//   gelu_f32      y = gelu(x)      bindings 0 x, 1 y;       push n
//   gelu_mul_f32  y = gelu(g) * u  bindings 0 g, 1 u, 2 y;  push n
// All buffers f32 [n]. Spec: 0 workgroup size.
//
//   gelu_mul_h    the same as gelu_mul_f32 with y stored as f16 pairs
//                 packed in uint words [n/2] (low half first, clamped to
//                 the f16 range: the input of a product on cooperative
//                 matrices); push n, even; invocation i computes elements
//                 2i, 2i+1 and i < n/2.
//
// gelu is the tanh form computed as 1 / (1 + exp(-2z)), see gelu.glsl.
//! variant add_f32 OP_ADD
//! variant mul_f32 OP_MUL
//! variant scale_f32 OP_SCALE
//! variant gelu_f32 OP_GELU
//! variant gelu_mul_f32 OP_GELU_MUL
//! variant gelu_mul_h OP_GELU_MUL OUT_F16

#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

#if defined(OP_ADD) || defined(OP_MUL) || defined(OP_GELU_MUL)
#define BINARY 1
#endif

layout(binding = 0) readonly buffer A { float a[]; };
#ifdef BINARY
layout(binding = 1) readonly buffer B { float b[]; };
#ifdef OUT_F16
layout(binding = 2) writeonly buffer Y { uint yh[]; };
const float F16_MAX = 65504.0;
#else
layout(binding = 2) writeonly buffer Y { float y[]; };
#endif
#else
layout(binding = 1) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform Push {
    uint n;
#ifdef OP_SCALE
    float s;
#endif
} pc;

#include "gelu.glsl"

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
#ifdef OUT_F16
    if (i >= pc.n / 2u) {
        return;
    }
    vec2 v = vec2(gelu(a[2u * i]) * b[2u * i], gelu(a[2u * i + 1u]) * b[2u * i + 1u]);
    yh[i] = packHalf2x16(clamp(v, -F16_MAX, F16_MAX));
#else
    if (i >= pc.n) {
        return;
    }
#if defined(OP_ADD)
    y[i] = a[i] + b[i];
#elif defined(OP_MUL)
    y[i] = a[i] * b[i];
#elif defined(OP_SCALE)
    y[i] = a[i] * pc.s;
#elif defined(OP_GELU)
    y[i] = gelu(a[i]);
#elif defined(OP_GELU_MUL)
    y[i] = gelu(a[i]) * b[i];
#endif
#endif
}

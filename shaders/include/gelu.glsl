// GELU, tanh form (GEMMA3.md §1.3), rewritten with
// 0.5 (1 + tanh z) = 1 / (1 + exp(-2z)):
//
//	gelu(u) = u / (1 + exp(-2 z)),  z = sqrt(2/pi) (u + 0.044715 u^3)
//
// GPU tanh is derived from exp with cancellation near 0 and loses all
// relative accuracy where 1 + tanh z underflows; this form keeps a few-ulp
// relative error everywhere (exp overflow for z < -44 gives u/inf = -0,
// where gelu is below 1e-38 anyway). Shared by elementwise.comp (gelu_f32,
// gelu_mul_f32) and matvec.comp (matvec_gelu_*), so fused and unfused
// paths round alike.
#ifndef GELU_GLSL
#define GELU_GLSL

float gelu(float u) {
    float z = 0.7978845608028654 * (u + 0.044715 * u * u * u);
    return u / (1.0 + exp(-2.0 * z));
}

#endif

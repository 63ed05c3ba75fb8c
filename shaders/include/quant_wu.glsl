// A second copy of quant.glsl's decoders that reads a second weight, for
// shaders that multiply by two weights of one type (the gated MLP's gate
// and up): the including shader declares
//
//	layout(binding = N) readonly buffer WU { uint wu[]; };
//
// and includes quant.glsl, then this file. Each name quant.glsl (and
// loads.glsl) defines gets a qu_ prefix here (q_unit is qu_unit) and wq is
// read as wu. A name missing here makes the second copy a redefinition, so
// the shader fails to compile rather than read the wrong weight. The
// macros (QK, QB, ...) come out identical and are redefined as such.
#ifndef QUANT_WU_GLSL
#define QUANT_WU_GLSL

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

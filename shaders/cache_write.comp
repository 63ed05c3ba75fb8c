#version 450
// Writes a chunk's keys and values into the ring-buffer KV caches: token t
// (position p0 + t) goes to row (p0 + t) % Slots. When the chunk is longer
// than the ring, only the last token of each row is written (the earlier
// ones would be overwritten anyway), so no two invocations write one word.
//
// Bindings: 0 k f32 [T, W] readonly; 1 v f32 [T, W] readonly;
//           2 pos int32 [>= 1] readonly (pos[0] = p0, read on the GPU);
//           3 ck, 4 cv caches [Slots, W]: f16 pairs packed in uint words
//           (low half first, round to nearest even), or f32 with CACHE_F32.
// W = nKV*D (even).  Push: T, W, Slots.  Spec: 0 workgroup size.
// Mapping: one invocation per pair of values of k and v, index
// (group.y * groups.x + group.x) * WG + local.
//! variant cache_write_f16
//! variant cache_write_f32 CACHE_F32

layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer K { float k[]; };
layout(binding = 1) readonly buffer V { float v[]; };
layout(binding = 2) readonly buffer Pos { int pos[]; };
#ifdef CACHE_F32
layout(binding = 3) writeonly buffer CK { float ck[]; };
layout(binding = 4) writeonly buffer CV { float cv[]; };
#else
layout(binding = 3) writeonly buffer CK { uint ck[]; };
layout(binding = 4) writeonly buffer CV { uint cv[]; };
#endif

layout(push_constant) uniform Push {
    uint T;
    uint width;
    uint slots;
} pc;

void main() {
    uint idx = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x
        + gl_LocalInvocationID.x;
    uint pairs = pc.width / 2;
    if (idx >= pc.T * pairs) {
        return;
    }
    uint t = idx / pairs;
    uint w = idx - t * pairs;
    if (t + pc.slots < pc.T) {
        return; // token t + Slots writes this row
    }
    uint src = t * pc.width + 2 * w;
    uint row = (uint(pos[0]) + t) % pc.slots;
#ifdef CACHE_F32
    uint dst = row * pc.width + 2 * w;
    ck[dst] = k[src];
    ck[dst + 1] = k[src + 1];
    cv[dst] = v[src];
    cv[dst + 1] = v[src + 1];
#else
    uint dst = row * pairs + w;
    ck[dst] = packHalf2x16(vec2(k[src], k[src + 1]));
    cv[dst] = packHalf2x16(vec2(v[src], v[src + 1]));
#endif
}

#version 450
// Advance a replayed decode step: after the token selection of step n has
// written its token to ring[(step - 1) % R] and incremented step (see
// sample.comp, Advance), make that token the next step's input and move
// the position on, so the next replay needs nothing from the host.
//
// Bindings: 0 state uint32 [2] = {seed, step} (readonly); 1 ring int32 [R]
// (readonly); 2 ids int32 [1]; 3 pos int32 [1].
// Push: R.
// Mapping: a single invocation.
//! variant decode_advance

layout(local_size_x = 1) in;

layout(binding = 0) readonly buffer State { uint state[]; };
layout(binding = 1) readonly buffer Ring { int ring[]; };
layout(binding = 2) buffer Ids { int ids[]; };
layout(binding = 3) buffer Pos { int pos[]; };

layout(push_constant) uniform Push {
    uint R;
} pc;

void main() {
    ids[0] = ring[(state[1] + pc.R - 1u) % pc.R];
    pos[0] += 1;
}

// Flash-attention building blocks shared by attention.comp and
// attention_full.comp (online softmax, f32 throughout).
//
// A workgroup owns a block of BR query rows that read the same keys (rows of
// one kv head). It keeps the rows, pre-scaled, in shared memory and streams
// the keys in tiles of BC; per tile:
//
//   load keys into kvs          barrier
//   flash_scores(j0)            barrier   ps[i][c] = qs[i]·kvs[c], or MASKED
//   flash_softmax(); load values into kvs
//                               barrier   running max/sum per row, ps -> p
//   flash_accumulate()          barrier   o = o·alpha + p·V
//
// and finally divides o by the row's sum (or hands m, l, o to a combine
// pass). The including shader declares `layout(local_size_x_id = 0) in;`
// and defines key_allowed(i, j): whether block row i sees key j (false for
// keys past the loaded range, whose kvs rows are zero). Invalid rows must
// have zero queries; their results are not written.
//
// Spec constants: 0 workgroup size WG, 1 head dim D, 2 rows BR, 3 keys BC.
// Output cells are the [BR, D] block in row-major order: invocation x owns
// cells x, x + WG, x + 2 WG, … (o[n] is cell x + n WG).
#ifndef ATTENTION_GLSL
#define ATTENTION_GLSL

layout(constant_id = 1) const uint D = 128;
layout(constant_id = 2) const uint BR = 8;
layout(constant_id = 3) const uint BC = 16;

const uint WG = gl_WorkGroupSize.x;
const uint KS = D + 1;                   // kvs row stride: odd, so that a column read has no bank conflicts
const uint NO = (BR * D + WG - 1) / WG;  // output cells per invocation

// Score of a key a row may not see. Finite on purpose: no infinities reach
// exp or the arithmetic, so no fast-math assumption can bite.
#define MASKED (-3.0e38)

shared float qs[BR * D];   // query rows, times the scale
shared float kvs[BC * KS]; // the tile's keys, then its values
shared float ps[BR * BC];  // scores, then unnormalized probabilities
shared float row_m[BR];    // running max per row (MASKED: nothing seen yet)
shared float row_l[BR];    // running sum of exp(s - m) per row
shared float row_a[BR];    // this tile's rescale of the row's accumulator

float o[NO]; // unnormalized outputs of the owned cells

bool key_allowed(uint i, uint j);

void flash_init() {
    for (uint n = 0; n < NO; n++) {
        o[n] = 0.0;
    }
    for (uint i = gl_LocalInvocationID.x; i < BR; i += WG) {
        row_m[i] = MASKED;
        row_l[i] = 0.0;
    }
}

// flash_scores fills ps with the scores of the tile starting at key j0.
void flash_scores(uint j0) {
    for (uint cell = gl_LocalInvocationID.x; cell < BR * BC; cell += WG) {
        uint i = cell / BC;
        uint c = cell - i * BC;
        float s = MASKED;
        if (key_allowed(i, j0 + c)) {
            s = 0.0;
            for (uint d = 0; d < D; d++) {
                s = fma(qs[i * D + d], kvs[c * KS + d], s);
            }
        }
        ps[cell] = s;
    }
}

// flash_softmax folds the tile's scores into each row's running max and
// sum, turning ps into exp(s - m) and leaving the accumulator's rescale in
// row_a.
void flash_softmax() {
    for (uint i = gl_LocalInvocationID.x; i < BR; i += WG) {
        float m = row_m[i];
        float mx = m;
        for (uint c = 0; c < BC; c++) {
            mx = max(mx, ps[i * BC + c]);
        }
        float alpha = 1.0;
        float sum = 0.0;
        if (mx == MASKED) {
            for (uint c = 0; c < BC; c++) {
                ps[i * BC + c] = 0.0;
            }
        } else {
            alpha = m == MASKED ? 0.0 : exp(m - mx);
            for (uint c = 0; c < BC; c++) {
                float s = ps[i * BC + c];
                float p = s == MASKED ? 0.0 : exp(s - mx);
                ps[i * BC + c] = p;
                sum += p;
            }
        }
        row_m[i] = mx;
        row_l[i] = row_l[i] * alpha + sum;
        row_a[i] = alpha;
    }
}

// flash_accumulate adds the tile's probabilities times its values (in kvs)
// to the owned output cells.
void flash_accumulate() {
    for (uint n = 0; n < NO; n++) {
        uint cell = gl_LocalInvocationID.x + n * WG;
        if (cell < BR * D) {
            uint i = cell / D;
            uint d = cell - i * D;
            float acc = o[n] * row_a[i];
            for (uint c = 0; c < BC; c++) {
                acc = fma(ps[i * BC + c], kvs[c * KS + d], acc);
            }
            o[n] = acc;
        }
    }
}

#endif

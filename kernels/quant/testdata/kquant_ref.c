/* Test-vector harness for kquant_vectors.json (see README.md).
 *
 * Reads little-endian float32 values from stdin and writes the blocks that
 * ggml's reference quantizer for the type named in argv[1] (q2_K, q3_K, q4_K,
 * q5_K, q6_K) produces to stdout. Link it with llama.cpp's
 * ggml/src/ggml-quants.c; the few ggml symbols that file references but the
 * reference quantizers never reach are stubbed below. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-quants.h"

void ggml_abort(const char *file, int line, const char *fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d\n", file, line);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
const char *ggml_type_name(enum ggml_type type) { (void)type; return "?"; }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }

int main(int argc, char **argv) {
    static float x[1 << 20];
    static unsigned char y[1 << 22];
    if (argc != 2) {
        fprintf(stderr, "usage: %s q2_K|q3_K|q4_K|q5_K|q6_K < floats > blocks\n", argv[0]);
        return 2;
    }
    size_t n = fread(x, sizeof(float), 1 << 20, stdin);
    size_t bytes;
    if (!strcmp(argv[1], "q2_K")) { quantize_row_q2_K_ref(x, (void *)y, n); bytes = n / 256 * 84; }
    else if (!strcmp(argv[1], "q3_K")) { quantize_row_q3_K_ref(x, (void *)y, n); bytes = n / 256 * 110; }
    else if (!strcmp(argv[1], "q4_K")) { quantize_row_q4_K_ref(x, (void *)y, n); bytes = n / 256 * 144; }
    else if (!strcmp(argv[1], "q5_K")) { quantize_row_q5_K_ref(x, (void *)y, n); bytes = n / 256 * 176; }
    else if (!strcmp(argv[1], "q6_K")) { quantize_row_q6_K_ref(x, (void *)y, n); bytes = n / 256 * 210; }
    else { fprintf(stderr, "unknown type %s\n", argv[1]); return 2; }
    fwrite(y, 1, bytes, stdout);
    return 0;
}

#!/usr/bin/env python3
"""Generate kquant_vectors.json: llama.cpp's own reference quantizers
(quantize_row_q{2,3,4,5,6}_K_ref in ggml/src/ggml-quants.c) applied to a fixed
set of float32 super-blocks. gguf-py has no K-quant quantizers, so these bytes
come from the C code itself, compiled with -ffp-contract=off (no FMA, the
semantics Quantize implements).

Usage: python3 gen_kquant_vectors.py KREF [LABEL]
  KREF  a binary built from kquant_ref.c linked with ggml-quants.c (see
        README.md); it reads float32s on stdin and writes blocks on stdout.
  LABEL provenance text (which llama.cpp source, compiler flags).
"""
import json
import os
import subprocess
import sys

import numpy as np

rng = np.random.default_rng(7)


def inputs():
    blocks = []
    for i in range(10):  # Gaussian super-blocks at many scales, some offset
        scale = 2.0 ** rng.uniform(-10, 4)
        x = rng.standard_normal(256) * scale
        if i % 3 == 0:
            x += rng.standard_normal() * scale * 2
        blocks.append(x)
    blocks.append(np.zeros(256))                              # all zero
    blocks.append(np.full(256, -0.375))                       # constant
    x = rng.standard_normal(256) * 0.02
    x[::17] = 0
    x[100] = 3.0                                              # outlier
    blocks.append(x)
    blocks.append(np.abs(rng.standard_normal(256)))           # all positive
    blocks.append(np.round(rng.standard_normal(256) * 4) / 8)  # grid values: many ties
    x = np.zeros(256)
    x[40:56] = rng.standard_normal(16)                        # one live sub-block
    blocks.append(x)
    return np.concatenate(blocks).astype(np.float32)


def main():
    kref = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else "llama.cpp ggml-quants.c, -ffp-contract=off"
    x = inputs()
    out = {"provenance": label, "input": x.tobytes().hex(), "results": []}
    for name in ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        res = subprocess.run([kref, name.lower()[:2] + "_K"], input=x.tobytes(), capture_output=True, check=True)
        out["results"].append({"type": name, "data": res.stdout.hex()})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kquant_vectors.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate vectors.json, the cross-check vectors of the quant package tests.

Every expected value comes from gguf-py (PyPI package `gguf`, module
gguf.quants), llama.cpp's own numpy implementation of the ggml block formats:

  * "dequant": random blocks per type -> gguf.quants.dequantize(...) floats.
    Random bytes, with the f16 scale fields replaced by finite random halves
    so that no NaN/Inf appears (numpy's NaN payload handling depends on the
    CPU's F16C support).
  * "quant": one shared array of float32 inputs (Gaussian blocks of varied
    scale plus hand-made edge blocks) -> gguf.quants.quantize(...) bytes, for
    the types gguf-py can quantize (it has no K-quant quantizers).

Floats are stored as their IEEE bit patterns (uint32 / uint16) so the Go
tests can compare bit for bit. Run:  python3 gen_vectors.py  (writes
vectors.json next to this script). Deterministic for a given numpy/gguf.
"""
import json
import os
from importlib.metadata import version

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

rng = np.random.default_rng(20250612)

# f16 field offsets inside each block type (FORMATS.md 2.2/2.3)
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "IQ4_NL": [0], "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2],
    "Q5_K": [0, 2], "Q6_K": [208], "IQ4_XS": [0],
}
BLOCKS = {"Q2_K": 3, "Q3_K": 3, "Q4_K": 3, "Q5_K": 3, "Q6_K": 3, "IQ4_XS": 3}


def bits32(a):
    return [int(v) for v in np.asarray(a, dtype=np.float32).view(np.uint32)]


def dequant_case(name):
    qt = T[name]
    block, size = quants.GGML_QUANT_SIZES[qt]
    nb = BLOCKS.get(name, 6)
    raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    for b in range(nb):
        for off in F16_FIELDS[name]:
            # magnitudes from 2^-20 to 2^2, either sign; block 0 gets d = 1.0
            h = np.float16(1.0) if b == 0 else np.float16(rng.choice([-1, 1]) * 2.0 ** rng.uniform(-20, 2))
            raw[b, off:off + 2] = np.frombuffer(h.tobytes(), dtype=np.uint8)
    vals = quants.dequantize(raw.reshape(-1), qt)
    assert vals.size == nb * block
    return {"type": name, "data": raw.tobytes().hex(), "values": bits32(vals)}


def half_case(name):
    if name == "F16":
        h = rng.integers(0, 0x10000, size=256, dtype=np.uint32).astype(np.uint16)
        h = h[(h & 0x7C00) != 0x7C00]  # finite only (see module doc)
        h = np.concatenate([h, np.array([0x7C00, 0xFC00, 0x0001, 0x83FF, 0x0400, 0x7BFF], dtype=np.uint16)])
        vals = quants.dequantize(h.view(np.uint8), T.F16)
    else:
        h = rng.integers(0, 0x10000, size=256, dtype=np.uint32).astype(np.uint16)
        vals = quants.dequantize(h.view(np.uint8), T.BF16)
    return {"type": name, "data": h.tobytes().hex(), "values": bits32(vals)}


def quant_inputs():
    blocks = []
    for i in range(40):  # Gaussian blocks at many scales, some with an offset
        scale = 2.0 ** rng.uniform(-12, 6)
        x = rng.standard_normal(32) * scale
        if i % 5 == 0:
            x += rng.standard_normal() * scale * 3
        blocks.append(x)
    blocks.append(np.zeros(32))                                # all zero
    blocks.append(np.full(32, 0.75))                           # constant
    blocks.append(np.arange(32) - 16.0)                        # integers: exact ties for Q4_0/Q5_0
    blocks.append(np.where(np.arange(32) % 2 == 0, 3.0, -3.0))  # +max and -max tie, first wins
    blocks.append((np.arange(32) - 15.5) / 4.0)                # half steps
    x = rng.standard_normal(32) * 1e-3
    x[7] = 100.0                                               # one outlier
    blocks.append(x)
    blocks.append(rng.uniform(-1, 1, 32) * 60000.0)            # near the f16 range
    blocks.append(rng.standard_normal(32) * 1e-6)              # subnormal-half scales
    return np.concatenate(blocks).astype(np.float32)


def main():
    out = {
        "provenance": "gguf-py (PyPI gguf %s, numpy %s), testdata/gen_vectors.py" % (version("gguf"), version("numpy")),
        "dequant": [half_case("F16"), half_case("BF16")],
        "quant": {},
    }
    for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL",
                 "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"]:
        out["dequant"].append(dequant_case(name))

    x = quant_inputs()
    out["quant"]["input"] = bits32(x)
    results = []
    for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16"]:
        q = quants.quantize(x, T[name])
        results.append({"type": name, "data": np.asarray(q).view(np.uint8).tobytes().hex()})
    # BF16 of special bit patterns: NaNs (quieted), infinities, rounding ties
    special = np.array([0x7FC00001, 0x7F800001, 0xFF812345, 0x7F800000, 0xFF800000,
                        0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F7FFFFF, 0x00000001], dtype=np.uint32)
    out["quant"]["bf16_special_input"] = [int(v) for v in special]
    out["quant"]["bf16_special"] = np.asarray(quants.quantize(special.view(np.float32), T.BF16)).view(np.uint8).tobytes().hex()
    out["quant"]["results"] = results

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

"""Writes the decode fixtures: small images in every format and pixel layout
Decode handles, and decode.safetensors holding what PIL makes of each file
the way transformers' load_image does: ImageOps.exif_transpose(Image.open(f))
.convert("RGB"), as a U8 tensor [H, W, 3] named after the file.

Run from this folder with Pillow (13.0.0, libjpeg-turbo 3.2, libwebp 1.6 was
used) and numpy:  python gen_decode.py
"""

import io
import json
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

rng = np.random.default_rng(7)


def scene(w, h):
    """Gradients, hard colour edges and noise: chroma upsampling shows."""
    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.float64)
    a[..., 0] = 255 * x / max(w - 1, 1)
    a[..., 1] = 255 * y / max(h - 1, 1)
    a[..., 2] = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    a[(x // 5 + y // 4) % 3 == 0] = [250, 20, 30]
    a[(x - y) % 11 == 0] = [10, 30, 240]
    a += rng.normal(0, 6, a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    c = kind + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))


def raw_png(w, h, bit_depth, color_type, rows, extra=b""):
    """A PNG written by hand, for layouts PIL cannot save (16-bit RGB)."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    data = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(data)) + png_chunk(b"IEND", b""))


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def save(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


files = {}
rgb = Image.fromarray(scene(37, 23))

# JPEG: the three chroma layouts, greyscale, CMYK, and an orientation.
for sub, name in [(0, "444"), (1, "422"), (2, "420")]:
    files[f"jpeg_{name}.jpg"] = save(rgb, "JPEG", quality=92, subsampling=sub)
files["jpeg_420_wide.jpg"] = save(Image.fromarray(scene(64, 9)), "JPEG", quality=90, subsampling=2)
files["jpeg_gray.jpg"] = save(rgb.convert("L"), "JPEG", quality=92)
files["jpeg_cmyk.jpg"] = save(rgb.convert("CMYK"), "JPEG", quality=92)
files["jpeg_orient6.jpg"] = save(rgb, "JPEG", quality=92, subsampling=2, exif=exif_bytes(6))

# PNG: layouts PIL converts in different ways, and every orientation.
rgba = np.dstack([scene(37, 23), rng.integers(0, 256, (23, 37), np.uint8)])
rgba[0, :, 3] = 0  # colour kept under zero alpha
files["png_rgba.png"] = save(Image.fromarray(rgba), "PNG")
files["png_la.png"] = save(Image.fromarray(np.ascontiguousarray(rgba[..., [0, 3]])), "PNG")
pal = rgb.quantize(colors=40)
pal.info["transparency"] = 3
files["png_palette_trns.png"] = save(pal, "PNG", transparency=3)
files["png_1bit.png"] = save(rgb.convert("1"), "PNG")
g16 = (scene(37, 23)[..., 0].astype(np.uint16) * 3)  # values up to 765
files["png_gray16.png"] = save(Image.fromarray(g16.astype(np.uint16)), "PNG")
r16 = scene(37, 23).astype(np.uint16) * 257 + rng.integers(0, 200, (23, 37, 3)).astype(np.uint16)
files["png_rgb16.png"] = raw_png(37, 23, 16, 2, [r16[y].astype(">u2").tobytes() for y in range(23)])
for o in range(2, 9):
    files[f"png_orient{o}.png"] = save(rgb, "PNG", exif=exif_bytes(o))

# GIF: transparency whose palette colour is not black, drawn as a frame
# smaller than the logical screen (patched into the header after saving).
gp = rgb.quantize(colors=16)
palette = gp.getpalette()[:48]
palette[3 * 5:3 * 5 + 3] = [200, 180, 60]  # the transparent entry
gp.putpalette(palette)
gif = bytearray(save(gp, "GIF", transparency=5))
w, h = 37, 23
gif[6:10] = struct.pack("<HH", w + 9, h + 5)  # logical screen
desc = gif.index(b"\x2c", 13 + 3 * 16)
gif[desc + 1:desc + 5] = struct.pack("<HH", 4, 3)  # frame offset
files["gif_subframe_trns.gif"] = bytes(gif)
files["gif_plain.gif"] = save(rgb.quantize(colors=64), "GIF")

# WebP: lossy (4:2:0), lossy with alpha, lossless, odd sizes, orientation.
files["webp_lossy.webp"] = save(rgb, "WEBP", quality=80)
files["webp_lossy_even.webp"] = save(Image.fromarray(scene(36, 22)), "WEBP", quality=80)
files["webp_lossy_alpha.webp"] = save(Image.fromarray(rgba), "WEBP", quality=80)
files["webp_lossless.webp"] = save(Image.fromarray(rgba), "WEBP", lossless=True, exact=True)
files["webp_orient8.webp"] = save(rgb, "WEBP", quality=80, exif=exif_bytes(8))

header, blobs, off = {}, [], 0
for name in sorted(files):
    with open(name, "wb") as f:
        f.write(files[name])
    im = ImageOps.exif_transpose(Image.open(name)).convert("RGB")
    a = np.asarray(im, np.uint8)
    header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    blobs.append(a.tobytes())
    off += a.nbytes
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open("decode.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(len(files), "files")

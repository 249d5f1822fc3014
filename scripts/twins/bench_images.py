#!/usr/bin/python3
"""Writes the latency test images (PNG, deterministic) into OUT_DIR
(default build/bench-images):

  tex512.png    512×512, textured everywhere (smooth colour fields + noise)
  tex2048.png   2048×2048, textured everywhere: tile pruning must skip nothing
  half2048.png  2048×2048, the left half textured, the right half a uniform
                background (one colour with ±1 level of noise, like a scan
                or a compressed photo's flat area)

Needs only python3-numpy (PNG written with zlib).
"""
import os
import struct
import sys
import zlib

import numpy as np


def png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def textured(rng, h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(6):
            fx, fy, ph = rng.uniform(1, 40, 2).tolist() + [rng.uniform(0, 6.3)]
            img[..., c] += 20 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + ph)
    img += 128 + rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                              "build", "bench-images")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2048)
    png(os.path.join(out, "tex512.png"), textured(rng, 512, 512))
    png(os.path.join(out, "tex2048.png"), textured(rng, 2048, 2048))
    half = textured(rng, 2048, 2048)
    bg = np.array([236, 232, 224], np.int16) + rng.integers(-1, 2, (2048, 1024, 3))
    half[:, 1024:] = np.clip(bg, 0, 255).astype(np.uint8)
    png(os.path.join(out, "half2048.png"), half)
    print(out)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes the differential test's PNG images (deterministic, RGB, 8-bit).

Usage: scripts/twins/make_images.py [OUT_DIR]   (default: models/smolvlm/testdata/images)

Each image is a smooth two-colour gradient with a few rectangles, so tiles
differ from each other and resizes have something to interpolate.
"""
import os
import struct
import sys
import zlib

import numpy as np

SIZES = {  # name: (width, height)
    "sq64": (64, 64), "land64x48": (64, 48), "port48x64": (48, 64), "wide64x24": (64, 24),
    "small32x20": (32, 20), "big100x80": (100, 80),
    "sq32": (32, 32), "land32x24": (32, 24), "port24x32": (24, 32),
}
# Added later, with fixed seeds so the images above keep their bytes.
EXTRA = {"sq32b": (32, 32, 201), "sq32c": (32, 32, 202)}


def png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(t, data):
        c = struct.pack(">I", len(data)) + t + data
        return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def image(name, w, h, seed):
    rng = np.random.default_rng(seed)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    t = ((xx / max(w - 1, 1)) * 0.6 + (yy / max(h - 1, 1)) * 0.4)[..., None]
    img = c0 * (1 - t) + c1 * t
    for _ in range(4):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(4, w // 2 + 5), y0 + rng.integers(4, h // 2 + 5)
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "smolvlm", "testdata", "images")
    os.makedirs(out, exist_ok=True)
    for i, (name, (w, h)) in enumerate(sorted(SIZES.items())):
        png(os.path.join(out, name + ".png"), image(name, w, h, 100 + i))
    for name, (w, h, seed) in sorted(EXTRA.items()):
        png(os.path.join(out, name + ".png"), image(name, w, h, seed))


if __name__ == "__main__":
    main()

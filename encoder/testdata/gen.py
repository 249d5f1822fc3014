#!/usr/bin/python3
"""Generates the image fixtures and the PIL goldens of the encoder tests.

Run from the repository root with Debian's Python (Pillow 9.4, libjpeg-turbo
2.1.5, libwebp 1.2.4 made the committed files):

    /usr/bin/python3 encoder/testdata/gen.py

Everything is deterministic (numpy Generator seeded below). Files:

  decode/   one small synthetic photo in every supported format and pixel
            layout, and <file>.want.png: the RGB pixels DecodeImage must
            return (PIL's decode; alpha composited over white by the rule in
            composite() below, 16-bit gray reduced to its high byte).
  orient/   upright.png and orientN.jpg (N = 1..8): upright.png stored
            transformed so that applying EXIF orientation N gives it back;
            orient6.png and orient6.webp carry the tag in eXIf / EXIF chunks.
  resize/   photo300.png and scene300.png (300x300 sources) and
            <case>.pil.png: PIL Image.resize outputs, for cases in RESIZE.
  huge.png  a PNG whose header says 30000x30000 (no pixel data).
  notes.txt a text file.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
RNG = np.random.default_rng(20260601)


def path(*p):
    full = os.path.join(HERE, *p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def photo(w, h, rng, noise=2.0):
    """A photo-like RGB image: smooth gradients, blurred blobs, hard edges,
    fine texture and mild sensor noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / w, y / h
    img = np.zeros((h, w, 3))
    img[..., 0] = 90 + 120 * v + 20 * np.sin(6 * u)
    img[..., 1] = 140 + 60 * np.cos(3 * u + 2 * v)
    img[..., 2] = 200 - 120 * v
    for _ in range(6):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.08, 0.25) * w
        col = rng.uniform(-90, 90, 3)
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img += g[..., None] * col
    # fine texture in the lower right quarter (stresses antialiasing)
    tex = 40 * np.sin(x * 1.3) * np.sin(y * 0.9)
    img += (((u > 0.55) & (v > 0.55)) * tex)[..., None]
    img += rng.normal(0, noise, img.shape)
    im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.rectangle([w * 0.1, h * 0.6, w * 0.35, h * 0.9], fill=(30, 30, 35))
    d.ellipse([w * 0.55, h * 0.1, w * 0.85, h * 0.4], fill=(250, 245, 230))
    d.line([0, h * 0.5, w, h * 0.45], fill=(10, 60, 10), width=max(1, w // 60))
    return im


def scene(res, rng):
    """A flat-colour scene in the style of scripts/scenes: shapes on a plain
    background with a little noise."""
    base = int(rng.integers(165, 251))
    bg = tuple(int(np.clip(base + rng.integers(-12, 13), 0, 255)) for _ in range(3))
    im = Image.new("RGB", (res, res), bg)
    d = ImageDraw.Draw(im)
    cell = res / 3
    cols = [(215, 35, 35), (40, 165, 55), (40, 75, 215), (235, 205, 25)]
    for i, cellidx in enumerate([0, 4, 5, 7]):
        r, c = divmod(cellidx, 3)
        half = cell * (0.25 if i % 2 else 0.4)
        cx, cy = (c + 0.5) * cell, (r + 0.5) * cell
        box = [cx - half, cy - half, cx + half, cy + half]
        col = cols[i]
        if i == 0:
            d.ellipse(box, fill=col)
        elif i == 1:
            d.rectangle(box, fill=col)
        elif i == 2:
            d.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=col)
        else:
            t = half / 3
            d.rectangle([cx - half, cy - t, cx + half, cy + t], fill=col)
            d.rectangle([cx - t, cy - half, cx + t, cy + half], fill=col)
    a = np.asarray(im).astype(np.float64) + rng.normal(0, 1.5, (res, res, 3))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "RGB")


def composite(rgba):
    """Straight alpha over white, rounded: (c*a + 255*(255-a) + 127) // 255.
    Mirrors encoder's rule (PIL's convert("RGB") would drop alpha instead)."""
    a = rgba[..., 3:4].astype(np.int64)
    c = rgba[..., :3].astype(np.int64)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def want(name, im):
    """Writes the expected RGB decode of fixture name from PIL image im."""
    if im.mode in ("RGBA", "LA", "PA", "P") or "transparency" in im.info:
        arr = composite(np.asarray(im.convert("RGBA")))
    else:
        arr = np.asarray(im.convert("RGB"))
    Image.fromarray(arr, "RGB").save(path("decode", name + ".want.png"))


def gen_decode():
    src = photo(61, 47, RNG)  # odd sizes exercise chroma edges
    src.save(path("decode", "rgb.png"))
    want("rgb.png", src)

    for name, kw in [("q90-420.jpg", dict(subsampling=2)),
                     ("q90-422.jpg", dict(subsampling=1)),
                     ("q90-444.jpg", dict(subsampling=0)),
                     ("progressive-420.jpg", dict(subsampling=2, progressive=True))]:
        src.save(path("decode", name), quality=90, **kw)
        want(name, Image.open(path("decode", name)))
    src.convert("L").save(path("decode", "gray.jpg"), quality=90)
    want("gray.jpg", Image.open(path("decode", "gray.jpg")))
    src.convert("CMYK").save(path("decode", "cmyk.jpg"), quality=95)
    want("cmyk.jpg", Image.open(path("decode", "cmyk.jpg")))

    # PNG layouts
    src.convert("L").save(path("decode", "gray.png"))
    want("gray.png", src.convert("L"))
    g16 = (np.asarray(src.convert("L")).astype(np.uint16) * 257
           + RNG.integers(0, 257, (47, 61)).astype(np.uint16))
    Image.fromarray(g16.astype(np.uint16), "I;16").save(path("decode", "gray16.png"))
    Image.fromarray((g16 >> 8).astype(np.uint8), "L").convert("RGB").save(
        path("decode", "gray16.png.want.png"))
    rgba = np.dstack([np.asarray(src), np.tile(np.linspace(0, 255, 61).astype(np.uint8), (47, 1))])
    Image.fromarray(rgba, "RGBA").save(path("decode", "rgba.png"))
    want("rgba.png", Image.open(path("decode", "rgba.png")))
    la = Image.fromarray(rgba, "RGBA").convert("LA")
    la.save(path("decode", "la.png"))
    want("la.png", Image.open(path("decode", "la.png")))
    pal = src.convert("P", palette=Image.ADAPTIVE, colors=32)
    pal.save(path("decode", "pal-trns.png"), transparency=3)
    want("pal-trns.png", Image.open(path("decode", "pal-trns.png")))

    # GIF (first frame), with and without a transparent index
    pal.save(path("decode", "pal.gif"))
    want("pal.gif", Image.open(path("decode", "pal.gif")))
    pal.save(path("decode", "pal-trns.gif"), transparency=5)
    want("pal-trns.gif", Image.open(path("decode", "pal-trns.gif")))

    # BMP
    src.save(path("decode", "rgb.bmp"))
    want("rgb.bmp", Image.open(path("decode", "rgb.bmp")))
    pal.save(path("decode", "pal.bmp"))
    want("pal.bmp", Image.open(path("decode", "pal.bmp")))

    # WebP
    src.save(path("decode", "lossless.webp"), lossless=True)
    want("lossless.webp", Image.open(path("decode", "lossless.webp")))
    Image.fromarray(rgba, "RGBA").save(path("decode", "lossless-alpha.webp"), lossless=True)
    want("lossless-alpha.webp", Image.open(path("decode", "lossless-alpha.webp")))
    src.save(path("decode", "lossy.webp"), quality=80)
    want("lossy.webp", Image.open(path("decode", "lossy.webp")))
    Image.fromarray(rgba, "RGBA").save(path("decode", "lossy-alpha.webp"), quality=80)
    want("lossy-alpha.webp", Image.open(path("decode", "lossy-alpha.webp")))


# exif_transpose applies these to the stored pixels; we store the inverse.
INVERSE = {1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180,
           4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE, 6: Image.ROTATE_90,
           7: Image.TRANSVERSE, 8: Image.ROTATE_270}


def exif_bytes(o):
    e = Image.Exif()
    e[0x0112] = o
    e[0x010F] = "vlmrun test"  # a second tag so the IFD walk is exercised
    return e.tobytes()


def gen_orient():
    # 48x32 with four distinct 16-aligned blocks and a marker: every one of
    # the 8 transforms gives a different image.
    a = np.zeros((32, 48, 3), np.uint8)
    a[:16, :16] = (220, 30, 30)
    a[:16, 16:] = (30, 200, 40)
    a[16:, :32] = (30, 60, 220)
    a[16:, 32:] = (240, 220, 40)
    a[:8, 40:] = (20, 20, 20)
    up = Image.fromarray(a, "RGB")
    up.save(path("orient", "upright.png"))
    for o in range(1, 9):
        st = up if INVERSE[o] is None else up.transpose(INVERSE[o])
        p = path("orient", "orient%d.jpg" % o)
        st.save(p, quality=95, subsampling=0, exif=exif_bytes(o))
        back = np.asarray(ImageOps.exif_transpose(Image.open(p))).astype(int)
        assert back.shape == a.shape and np.abs(back - a).max() < 40, o
    st = up.transpose(INVERSE[6])
    st.save(path("orient", "orient6.png"), exif=exif_bytes(6))
    st.save(path("orient", "orient6.webp"), lossless=True, exif=exif_bytes(6))
    for p in ("orient6.png", "orient6.webp"):
        back = np.asarray(ImageOps.exif_transpose(Image.open(path("orient", p))))
        assert (back == a).all(), p


# name: (source, width, height, PIL filter)
RESIZE = {
    "photo-96-bicubic": ("photo300", 96, 96, Image.BICUBIC),
    "photo-96-bilinear": ("photo300", 96, 96, Image.BILINEAR),
    "photo-96-lanczos": ("photo300", 96, 96, Image.LANCZOS),
    "photo-96-box": ("photo300", 96, 96, Image.BOX),
    "photo-96-hamming": ("photo300", 96, 96, Image.HAMMING),
    "photo-96-nearest": ("photo300", 96, 96, Image.NEAREST),
    "photo-128x80-bicubic": ("photo300", 128, 80, Image.BICUBIC),
    "scene-96-bicubic": ("scene300", 96, 96, Image.BICUBIC),
    "scene-96-bilinear": ("scene300", 96, 96, Image.BILINEAR),
    "up-150x110-bicubic": ("decode/rgb", 150, 110, Image.BICUBIC),
    "up-150x110-bilinear": ("decode/rgb", 150, 110, Image.BILINEAR),
    "up-150x110-lanczos": ("decode/rgb", 150, 110, Image.LANCZOS),
    "up-37x90-nearest": ("decode/rgb", 37, 90, Image.NEAREST),
    "up-61x90-bicubic": ("decode/rgb", 61, 90, Image.BICUBIC),  # vertical only
    "down-40x47-bilinear": ("decode/rgb", 40, 47, Image.BILINEAR),  # horizontal only
}


def gen_resize():
    photo(300, 300, RNG, noise=1.0).save(path("resize", "photo300.png"))
    scene(300, RNG).save(path("resize", "scene300.png"))
    for name, (src, w, h, f) in RESIZE.items():
        p = path(src + ".png") if "/" in src else path("resize", src + ".png")
        Image.open(p).convert("RGB").resize((w, h), f).save(path("resize", name + ".pil.png"))


def png_chunk(typ, data):
    c = typ + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)


def gen_misc():
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    with open(path("huge.png"), "wb") as f:
        f.write(data)
    with open(path("notes.txt"), "w") as f:
        f.write("These are notes, not an image.\n")


if __name__ == "__main__":
    gen_decode()
    gen_orient()
    gen_resize()
    gen_misc()

#!/usr/bin/python3
"""Reference visual tokens of vlmrun's Python anyres layout on the
LLaVA-OneVision twin, computed independently in numpy, Pillow and torch
from the rules of transformers' LlavaOnevisionImageProcessor (slow, Pillow
resizes), LlavaOnevisionProcessor and LlavaOnevisionModel.
pack_image_features, as this script states them (no transformers code):

  1. best pinpoint: the one keeping the most of the image's pixels when it
     is scaled to fit (int truncation), then the least wasted area, then
     list order;
  2. crops: the image resized (Pillow bicubic) to fit the pinpoint with its
     aspect ratio (the scaled side rounded up), centred on a black canvas
     of the pinpoint's size (left/top padding floor(pad/2)), cut into 70 px
     crops row by row, after the base image (the image squashed to 70×70);
     each rescaled (×1/255 in float64, stored as float32) and normalized
     ((x − 0.5)/0.5 in float32);
  3. the vision module (the twin's SigLIP + projector) on every crop;
  4. the crops' 5×5 token blocks laid out as one (rows·5)×(cols·5) map,
     unpadded to the image's aspect ratio (rows or columns
     (map − int(round(side·map/other, 7))) // 2 cut from both ends), shrunk
     with torch's bilinear interpolate (align_corners false) to
     (int(h // r), int(w // r)) when r = sqrt(h·w / (9·25)) > 1.1, the
     image_newline vector (model.safetensors) after every row; the base
     tokens first.

An image sharing its prompt with others (the processor's
batch_num_images > 1) gets no crops: it is padded to a square (centred;
the rest filled with int(mean·255) = 127 per channel), squashed to 70×70
(Pillow bicubic), rescaled and normalized as above; its tokens are the
vision module's 25 rows, then image_newline once.

Usage: scripts/twins/onevision_anyres_ref.py
(writes models/llavaonevision/testdata/anyres-features.json: per image the
crop grid, the token count and the tokens as base64 little-endian float32;
anyres-several.json: the tokens of three images in one prompt, in order;
and the test image images/grad440x410.png)

Needs Debian's python3-torch (1.13), numpy and PIL: /usr/bin/python3.
"""
import base64
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qwen25_vision  # noqa: E402,F401  (first: it and qwen2vl import each other)
from vision_extras_onevision import vision_module  # noqa: E402

SIZE, SIDE, MAXP = 70, 5, 9
PINS = [(SIZE * a, SIZE * b) for a in range(1, 7) for b in range(1, 7)]
HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "..", "models", "llavaonevision", "testdata")


def best_pin(h, w):
    best, keep, waste = None, 0, None
    for ph, pw in PINS:
        s = min(pw / w, ph / h)
        k = min(int(w * s) * int(h * s), w * h)
        wst = pw * ph - k
        if k > keep or (k == keep and wst < waste):
            best, keep, waste = (ph, pw), k, wst
    return best


def fit(h, w, ph, pw):
    sw, sh = pw / w, ph / h
    if sw < sh:
        return min(math.ceil(h * sw), ph), pw
    return ph, min(math.ceil(w * sh), pw)


def resize(a, h, w):
    if a.shape[:2] == (h, w):
        return a
    return np.asarray(Image.fromarray(a).resize((w, h), resample=Image.BICUBIC))


def normalize(a):
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    return ((x - np.float32(0.5)) / np.float32(0.5)).transpose(2, 0, 1)


def crops(img):
    h, w = img.shape[:2]
    ph, pw = best_pin(h, w)
    nh, nw = fit(h, w, ph, pw)
    canvas = np.zeros((ph, pw, 3), dtype=np.uint8)
    y0, x0 = (ph - nh) // 2, (pw - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = resize(img, nh, nw)
    out = [normalize(resize(img, SIZE, SIZE))]
    for r in range(ph // SIZE):
        for c in range(pw // SIZE):
            out.append(normalize(canvas[r * SIZE:(r + 1) * SIZE, c * SIZE:(c + 1) * SIZE]))
    return np.stack(out), ph // SIZE, pw // SIZE


def pad_square(img, fill=127):
    h, w = img.shape[:2]
    if h == w:
        return img
    n = max(h, w)
    sq = np.full((n, n, 3), fill, dtype=np.uint8)
    y0, x0 = (n - h) // 2, (n - w) // 2
    sq[y0:y0 + h, x0:x0 + w] = img
    return sq


def newline():
    with open(os.path.join(TESTDATA, "llava-onevision-twin", "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        a, b = hdr["image_newline"]["data_offsets"]
        f.seek(8 + n + a)
        return torch.from_numpy(np.frombuffer(f.read(b - a), dtype="<f4").copy())


def pack(feats, rows, cols, h, w, nl):
    d = feats.shape[-1]
    grid = feats[1:].reshape(rows, cols, SIDE, SIDE, d)
    m = grid.permute(0, 2, 1, 3, 4).reshape(rows * SIDE, cols * SIDE, d)  # the map, (y, x, d)
    mh, mw = m.shape[:2]
    if w / h > mw / mh:
        cut = (mh - int(round(h * (mw / w), 7))) // 2
        m = m[cut:mh - cut]
    else:
        cut = (mw - int(round(w * (mh / h), 7))) // 2
        m = m[:, cut:mw - cut]
    mh, mw = m.shape[:2]
    r = math.sqrt(mh * mw / (MAXP * SIDE * SIDE))
    if r > 1.1:
        # a contiguous (d, h, w) map, as pack_image_features interpolates
        # it (torch's channels-first kernel; a permuted view would take the
        # channels-last one, whose sums round differently)
        m = torch.nn.functional.interpolate(m.permute(2, 0, 1).contiguous()[None], [int(mh // r), int(mw // r)],
                                            mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    m = torch.cat([m, nl.expand(m.shape[0], 1, d)], dim=1).reshape(-1, d)
    return torch.cat([feats[0], m])


def gradient(w, h):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // (w - 1)), (y * 255 // (h - 1)), ((x + y) * 7) % 256], axis=-1)
    return img.astype(np.uint8)


def main():
    path = os.path.join(TESTDATA, "images", "grad440x410.png")
    Image.fromarray(gradient(440, 410)).save(path)
    vis = vision_module()
    nl = newline()
    out = {}
    for name in ["tall70x105", "big100x80", "grad440x410"]:
        img = np.asarray(Image.open(os.path.join(TESTDATA, "images", name + ".png")).convert("RGB"))
        px, rows, cols = crops(img)
        with torch.no_grad():
            feats = vis(torch.from_numpy(px))
            tokens = pack(feats, rows, cols, img.shape[0], img.shape[1], nl)
        out[name] = {"crops": [rows, cols], "tokens": int(tokens.shape[0]), "dim": int(tokens.shape[1]),
                     "features_f32le": base64.b64encode(tokens.numpy().astype("<f4").tobytes()).decode()}
        print(name, img.shape[:2], (rows, cols), tuple(tokens.shape))
    with open(os.path.join(TESTDATA, "anyres-features.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    names = ["wide140x70", "tall70x105", "sq70"]
    rows = []
    for name in names:
        img = np.asarray(Image.open(os.path.join(TESTDATA, "images", name + ".png")).convert("RGB"))
        px = normalize(resize(pad_square(img), SIZE, SIZE))[None]
        with torch.no_grad():
            rows += [vis(torch.from_numpy(px))[0], nl[None]]
    tokens = torch.cat(rows)
    with open(os.path.join(TESTDATA, "anyres-several.json"), "w") as f:
        json.dump({"images": names, "tokens": int(tokens.shape[0]), "dim": int(tokens.shape[1]),
                   "features_f32le": base64.b64encode(tokens.numpy().astype("<f4").tobytes()).decode()}, f)
        f.write("\n")
    print("several", names, tuple(tokens.shape))


if __name__ == "__main__":
    main()

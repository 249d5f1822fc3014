#!/usr/bin/python3
"""Reference video tokens of LLaVA-OneVision's Python video path on the
twin, computed independently in numpy and torch from the rules of
transformers' LlavaOnevisionVideoProcessor, LlavaOnevisionProcessor and
LlavaOnevisionModel (get_video_features, apply_pooling, the newline in
forward), as this script states them (no transformers code):

  1. every frame (here 70×70: no resize) rescaled and normalized with the
     mean and std fused into the rescale factor, in float32:
     (x − 0.5·255) / (0.5·255);
  2. the twin's vision module (SigLIP + projector) on all frames;
  3. each frame's 5×5 token grid shrunk with torch's bilinear interpolate
     (align_corners false) to ceil(5/2)×ceil(5/2) = 3×3, raster order,
     frames in order;
  4. image_newline (model.safetensors) once after all frames.

Usage: scripts/twins/onevision_video_ref.py
(writes models/llavaonevision/testdata/video-features.json: the frames
used, the token count and the tokens as base64 little-endian float32)

Needs Debian's python3-torch (1.13), numpy and PIL: /usr/bin/python3.
"""
import base64
import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qwen25_vision  # noqa: E402,F401  (first: qwen2vl.py and qwen25_vision.py import each other)
from onevision_anyres_ref import TESTDATA, newline  # noqa: E402
from vision_extras_onevision import vision_module  # noqa: E402

FRAMES = ["sq70", "sq70b", "sq70"]


def pixels(name):
    a = np.asarray(Image.open(os.path.join(TESTDATA, "images", name + ".png")).convert("RGB"))
    assert a.shape == (70, 70, 3)
    mean, std = np.float32(0.5) * np.float32(255.0), np.float32(0.5) * np.float32(255.0)
    return ((a.astype(np.float32) - mean) / std).transpose(2, 0, 1)


def main():
    vis = vision_module()
    px = torch.from_numpy(np.stack([pixels(f) for f in FRAMES]))
    with torch.no_grad():
        feats = vis(px)  # (frames, 25, D)
        f, n, d = feats.shape
        side = int(math.isqrt(n))
        g = feats.view(f, side, side, d).permute(0, 3, 1, 2).contiguous()
        p = math.ceil(side / 2)
        g = torch.nn.functional.interpolate(g, size=[p, p], mode="bilinear")
        tokens = torch.cat([g.permute(0, 2, 3, 1).reshape(-1, d), newline()[None]])
    out = {"frames": FRAMES, "tokens": int(tokens.shape[0]), "dim": int(d),
           "features_f32le": base64.b64encode(tokens.numpy().astype("<f4").tobytes()).decode()}
    with open(os.path.join(TESTDATA, "video-features.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")
    print(FRAMES, tuple(tokens.shape))


if __name__ == "__main__":
    main()

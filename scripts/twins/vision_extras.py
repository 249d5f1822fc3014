#!/usr/bin/python3
"""Reference values of the vision-encoder extras vlmrun derives by
instrumenting the LLaVA and Qwen2-VL twins' vision graphs (onnx/visinstr),
computed independently in torch from the twins' own modules.

Usage: scripts/twins/vision_extras.py   (writes the three files below)

Rebuilds each twin's vision module with the weights its generator gives it
(the same seed and draw order as llava.py / qwen2vl.py make(); the Go test
checks the module's features against the committed ONNX graph's, so a
drifted rebuild fails there), feeds a deterministic input
(x_i = ((7919·i + 13) mod 251) / 50 − 2.5, as float64 then float32: Go
computes the same values) and writes:

- models/llava/testdata/vision-extras.json: pixel_values (1, 3, 56, 56);
  the feature layer's (hidden_states[-2]: encoder layer 0) attention row of
  the CLS query over all 17 tokens, mean over heads (attention); that
  layer's output, the pre-projector features with the CLS row
  (pre_projector, 17×32); its keys, mean over heads (keys, 17×16); the
  projected features (features, 17×64).
- models/qwen2vl/testdata/vision-extras.json: pixel_values (16, 1176),
  grid_thw [1, 4, 4]; the last block's attention received by each patch
  (mean over heads and query rows), then the mean over the 4 patches of
  each merged token (attention, 4); the last block's output with a merged
  token's 4 rows side by side (pre_projector, 4×128); its keys, mean over
  heads and over the 4 patches (keys, 4×16); the features (4×64).
- models/qwen2vl/testdata/vision-extras-25.json: the Qwen2.5-VL twin
  (qwen25_vision.py, window attention), pixel_values (32, 1176), grid
  [1, 4, 8]: the same extras computed over the window-ordered patches of
  its last (full-attention) block, then put in the features' order with
  argsort(window_index) (attention 8, pre_projector 8×128, keys 8×16,
  features 8×64; window_index for the record).

Needs Debian's python3-torch (1.13) and numpy: /usr/bin/python3.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llava  # noqa: E402
import qwen25_vision  # noqa: E402
import qwen2vl  # noqa: E402


def pattern(n):
    i = np.arange(n, dtype=np.int64)
    return (((i * 7919 + 13) % 251) / 50.0 - 2.5).astype(np.float32)


def rows(t):
    return [[float(v) for v in r] for r in t.detach().double().numpy()]


def flat(t):
    return [float(v) for v in t.detach().double().numpy().reshape(-1)]


def llava_ref():
    seed = 41  # llava.main
    rng = np.random.default_rng(seed)
    _, vocab = llava.tokenizer()
    rng.standard_normal((len(vocab), llava.TEXT["hidden"]))  # the embedding table, drawn first
    torch.manual_seed(seed)
    vis = llava.LlavaVision(llava.TEXT["hidden"])
    llava.vision_weights(vis, rng)
    vis.eval()
    px = torch.from_numpy(pattern(3 * llava.IMAGE * llava.IMAGE).reshape(1, 3, llava.IMAGE, llava.IMAGE))
    with torch.no_grad():
        vm = vis.vision_tower.vision_model
        h = vm.pre_layrnorm(vm.embeddings(px))
        layer = vm.encoder.layers[llava.VLAYERS + llava.FEATURE_LAYER]  # hidden_states[-2] is layer 0's output
        for earlier in vm.encoder.layers[:llava.VLAYERS + llava.FEATURE_LAYER]:
            h = earlier(h)
        a = layer.self_attn
        x = layer.layer_norm1(h)
        b, n, _ = x.shape

        def heads(t):
            return t.view(b, n, llava.VHEADS, a.head_dim).transpose(1, 2)
        q, k = heads(a.q_proj(x) * a.scale), heads(a.k_proj(x))
        w = torch.softmax(q @ k.transpose(2, 3), dim=-1)  # (1, H, 17, 17)
        return {
            "pixel_shape": list(px.shape),
            "attention": flat(w[0, :, 0, :].mean(0)),
            "pre_projector": rows(layer(h)[0]),
            "keys": rows(k[0].mean(0)),
            "features": rows(vis(px)[0]),
        }


def qwen_ref():
    seed = 51  # qwen2vl.main
    rng = np.random.default_rng(seed)
    _, vocab = qwen2vl.tokenizer()
    rng.standard_normal((len(vocab), qwen2vl.TEXT["hidden"]))
    torch.manual_seed(seed)
    enc = qwen2vl.VisionEncoder(qwen2vl.TEXT["hidden"])
    qwen2vl.vision_weights(enc, rng)
    enc.eval()
    n, m = 16, qwen2vl.MERGE * qwen2vl.MERGE
    px = torch.from_numpy(pattern(n * qwen2vl.PDIM).reshape(n, qwen2vl.PDIM))
    grid = torch.tensor([[1, 4, 4]], dtype=torch.int64)
    with torch.no_grad():
        v = enc.visual
        x = v.patch_embed(px) + v.positions(n, grid)
        mask = torch.zeros(n, n)  # one image: no temporal mask
        for blk in v.blocks[:-1]:
            x = blk(x, mask)
        blk = v.blocks[-1]
        hd = qwen2vl.VDIM // qwen2vl.VHEADS
        q, k, _ = blk.attn.qkv(blk.norm1(x)).reshape(n, 3, qwen2vl.VHEADS, hd).permute(1, 2, 0, 3).unbind(0)
        w = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(hd), dim=-1)  # (H, 16, 16)
        received = w.mean(0).mean(0)  # mean over heads, then over query rows
        return {
            "pixel_shape": list(px.shape),
            "grid_thw": [1, 4, 4],
            "attention": flat(received.view(n // m, m).mean(1)),
            "pre_projector": rows(blk(x, mask).reshape(n // m, m * qwen2vl.VDIM)),
            "keys": rows(k.mean(0).view(n // m, m, hd).mean(1)),
            "features": rows(enc(px, grid)),
        }


def qwen25_ref():
    """The Qwen2.5-VL twin (window attention): grid [1, 4, 8] (2×4 merged
    tokens, two 2×2 windows, window order 0 1 4 5 2 3 6 7). The last block
    is a full-attention block over the reordered patches; every extra is
    computed in window order, averaged / laid side by side per merged
    token, then put in the features' order with argsort(window_index)."""
    enc = qwen25_vision.build(qwen2vl.VISION25_SEED)
    n, m = 32, qwen2vl.MERGE * qwen2vl.MERGE
    px = torch.from_numpy(pattern(n * qwen2vl.PDIM).reshape(n, qwen2vl.PDIM))
    grid = torch.tensor([[1, 4, 8]], dtype=torch.int64)
    with torch.no_grad():
        v = enc.visual
        order, window, full = v.masks(n, grid)
        x = v.patch_embed(px).reshape(-1, m, qwen2vl.VDIM)[order].reshape(n, qwen2vl.VDIM)
        x = x + v.positions(n, grid).reshape(-1, m, qwen2vl.VDIM)[order].reshape(n, qwen2vl.VDIM)
        for i, blk in enumerate(v.blocks[:-1]):
            x = blk(x, full if i in qwen25_vision.FULLATT else window)
        last = len(v.blocks) - 1
        mask = full if last in qwen25_vision.FULLATT else window
        blk = v.blocks[-1]
        hd = qwen2vl.VDIM // qwen2vl.VHEADS
        q, k, _ = blk.attn.qkv(blk.norm1(x)).reshape(n, 3, qwen2vl.VHEADS, hd).permute(1, 2, 0, 3).unbind(0)
        w = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(hd) + mask, dim=-1)  # (H, 32, 32), window order
        back = torch.argsort(order)
        return {
            "pixel_shape": list(px.shape),
            "grid_thw": [1, 4, 8],
            "window_index": [int(i) for i in order],
            "attention": flat(w.mean(0).mean(0).view(n // m, m).mean(1)[back]),
            "pre_projector": rows(blk(x, mask).reshape(n // m, m * qwen2vl.VDIM)[back]),
            "keys": rows(k.mean(0).view(n // m, m, hd).mean(1)[back]),
            "features": rows(enc(px, grid)),
        }


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..", "models")
    write(os.path.join(root, "llava", "testdata", "vision-extras.json"), llava_ref())
    write(os.path.join(root, "qwen2vl", "testdata", "vision-extras.json"), qwen_ref())
    write(os.path.join(root, "qwen2vl", "testdata", "vision-extras-25.json"), qwen25_ref())


if __name__ == "__main__":
    main()

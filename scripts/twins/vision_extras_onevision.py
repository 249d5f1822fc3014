#!/usr/bin/python3
"""Reference values of the vision-encoder extras vlmrun derives by
instrumenting the LLaVA-OneVision twin's vision graph (onnx/visinstr),
computed independently in torch from the twin's own SigLIP module.

Usage: scripts/twins/vision_extras_onevision.py
(writes models/llavaonevision/testdata/vision-extras.json)

Rebuilds the twin's vision module with the weights llavaonevision.py's
make() gives it (seed 61, the same draw order: the embedding table first;
the Go test checks the module's features against the committed ONNX
graph's, so a drifted rebuild fails there), feeds vision_extras.py's
deterministic input (pixel_values (1, 3, 70, 70)) and writes, for the
feature layer (vision_feature_layer -1 of 2: encoder layer 1, whose output
is hidden_states[-1]):

- attention: the attention each of the 25 patches receives (softmax
  probabilities, mean over heads, then over the 25 query rows; SigLIP has
  no CLS token);
- pre_projector: that layer's output, 25×32 (the features before the
  projector);
- keys: that layer's keys (k_proj of the pre-LN input), mean over heads,
  25×16;
- features: the projected features, 25×64.

Needs Debian's python3-torch (1.13) and numpy: /usr/bin/python3.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llava  # noqa: E402
import llavaonevision as ov  # noqa: E402
from vision_extras import flat, pattern, rows, write  # noqa: E402


def vision_module():
    """The twin's vision module (SigLIP + projector) with its weights."""
    seed = 61  # llavaonevision.main
    rng = np.random.default_rng(seed)
    _, vocab = ov.tokenizer()
    rng.standard_normal((len(vocab), ov.TEXT["hidden"]))  # the embedding table, drawn first
    torch.manual_seed(seed)
    vis = ov.OnevisionVision(ov.TEXT["hidden"])
    llava.vision_weights(vis, rng)
    vis.eval()
    return vis


def onevision_ref():
    vis = vision_module()
    px = torch.from_numpy(pattern(3 * ov.IMAGE * ov.IMAGE).reshape(1, 3, ov.IMAGE, ov.IMAGE))
    with torch.no_grad():
        vm = vis.vision_tower.vision_model
        h = vm.embeddings(px)
        for earlier in vm.encoder.layers[:-1]:
            h = earlier(h)
        layer = vm.encoder.layers[-1]
        a = layer.self_attn
        x = layer.layer_norm1(h)
        b, n, _ = x.shape

        def heads(t):
            return t.view(b, n, ov.VHEADS, a.head_dim).transpose(1, 2)
        q, k = heads(a.q_proj(x)), heads(a.k_proj(x))
        w = torch.softmax((q @ k.transpose(2, 3)) * a.head_dim ** -0.5, dim=-1)  # (1, H, 25, 25)
        return {
            "pixel_shape": list(px.shape),
            "attention": flat(w[0].mean(0).mean(0)),
            "pre_projector": rows(layer(h)[0]),
            "keys": rows(k[0].mean(0)),
            "features": rows(vis(px)[0]),
        }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    write(os.path.join(here, "..", "..", "models", "llavaonevision", "testdata", "vision-extras.json"), onevision_ref())


if __name__ == "__main__":
    main()

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
  4. image_newline (model.safetensors) once after all frames;
  5. greedy generation by the twin's Qwen2 decoder (torch modules, the
     twin's weights, the whole sequence recomputed every step) for the
     prompt "<|im_start|><video><|im_end|><|im_start|>" (special tokens
     only, so no tokenizer is needed) with <video> expanded to the 28 rows
     above, the embedding table's rows elsewhere, positions 0..L-1.

Usage: scripts/twins/onevision_video_ref.py
(writes models/llavaonevision/testdata/video-features.json: the frames
used, the token count, the tokens as base64 little-endian float32, the
prompt ids and 8 generated ids)

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
import llavaonevision as ov  # noqa: E402
import qwen2vl  # noqa: E402
import tokenizer_twin  # noqa: E402

SEED = 61  # llavaonevision.main
NEW = 8

FRAMES = ["sq70", "sq70b", "sq70"]


def pixels(name):
    a = np.asarray(Image.open(os.path.join(TESTDATA, "images", name + ".png")).convert("RGB"))
    assert a.shape == (70, 70, 3)
    mean, std = np.float32(0.5) * np.float32(255.0), np.float32(0.5) * np.float32(255.0)
    return ((a.astype(np.float32) - mean) / std).transpose(2, 0, 1)


def language_model():
    """The twin's embedding table and Qwen2 decoder, drawn as
    llavaonevision.make draws them."""
    rng = np.random.default_rng(SEED)
    _, vocab = ov.tokenizer()
    V, d = len(vocab), ov.TEXT
    table = rng.standard_normal((V, d["hidden"])).astype(np.float32)
    bias = np.zeros(V, dtype=np.float32)
    for t in ("<|endoftext|>", "<|im_start|>", "<image>", "<video>"):
        bias[vocab[t]] = -1e4
    b2u = tokenizer_twin.bytes_to_unicode()
    for b in list(range(0x00, 0x20)) + list(range(0x7F, 0x100)):
        bias[vocab[b2u[b]]] = -1e4
    c = {"hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
         "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
         "vocab_size": V, "rope_theta": ov.ROPE_THETA, "rms_norm_eps": ov.RMS_EPS}
    torch.manual_seed(SEED + 1)
    m = ov.Qwen2ForCausalLM(c)
    qwen2vl.init_lm(m, np.random.default_rng(SEED + 1000))
    with torch.no_grad():
        m.lm_head.bias.copy_(torch.from_numpy(bias))
    m.with_past = False
    m.eval()
    return vocab, torch.from_numpy(table), m


def generate(tokens):
    vocab, table, m = language_model()
    video = vocab["<video>"]
    ids = [vocab["<|im_start|>"]] + [video] * tokens.shape[0] + [vocab["<|im_end|>"], vocab["<|im_start|>"]]
    seq, gen = list(ids), []
    with torch.no_grad():
        for _ in range(NEW):
            x = table[torch.tensor(seq)].clone()
            x[1:1 + tokens.shape[0]] = tokens
            L = len(seq)
            logits = m(x[None], torch.ones(1, L, dtype=torch.int64), torch.arange(L)[None])[0]
            nxt = int(logits[0, -1].argmax())
            gen.append(nxt)
            seq.append(nxt)
            if nxt == vocab["<|im_end|>"]:
                break
    return ids, gen


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
    ids, gen = generate(tokens)
    out = {"frames": FRAMES, "tokens": int(tokens.shape[0]), "dim": int(d),
           "features_f32le": base64.b64encode(tokens.numpy().astype("<f4").tobytes()).decode(),
           "prompt_ids": ids, "generated_ids": gen}
    with open(os.path.join(TESTDATA, "video-features.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")
    print(FRAMES, tuple(tokens.shape), gen)


if __name__ == "__main__":
    main()

"""The Qwen2.5-VL twin's vision tower, with the structure of transformers'
Qwen2_5_VisionTransformerPretrainedModel (module names `visual.*`):
patch_embed, the window reorder, blocks with RMSNorm (norm1, norm2),
attn.qkv / attn.proj and the gated SiLU MLP (mlp.gate_proj, up_proj,
down_proj, with biases), windowed attention in every block but the
fullatt_block_indexes ones, the PatchMerger with an RMSNorm ln_q, and the
reverse reorder of the merged tokens.

- get_window_index: merged tokens (merge² consecutive patches in the
  processor's order) are grouped into windows of WINDOW_TOKENS ×
  WINDOW_TOKENS merged tokens (window_size / merge / patch; the real
  models: 112 px → 4, here 56 px → 2 so that the twin's small images have
  several windows): per temporal patch, windows row-major, tokens
  row-major inside a window — the order transformers builds by padding
  with −100 and dropping the pads, computed here as the argsort of a
  (frame, window, row, column) key so that it follows the grid input in
  the exported graph. The hidden states are gathered in that order
  (groups of merge² patches), as is the position embedding.
- Attention: cu_window_seqlens (a window's patches attend to each other)
  in windowed blocks, cu_seqlens (one temporal patch) in full blocks,
  written as additive masks.
- Instead of the 2-D vision RoPE, the twin's sinusoidal (row, column)
  embedding of qwen2vl.py (per temporal patch), added after the reorder.
- After the merger, hidden_states[argsort(window_index)]: the features in
  the processor's order.
"""
import io

import numpy as np
import onnx
import torch
from torch import nn

import qwen2vl as q

WINDOW_SIZE = 56  # vision_config.window_size (px)
WINDOW_TOKENS = WINDOW_SIZE // q.MERGE // q.PATCH  # merged tokens per window side
FULLATT = [q.VLAYERS - 1]  # vision_config.fullatt_block_indexes


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class VisionMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(q.VDIM, q.VFFN), nn.Linear(q.VDIM, q.VFFN)
        self.down_proj = nn.Linear(q.VFFN, q.VDIM)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(q.VDIM), RMSNorm(q.VDIM)
        self.attn, self.mlp = q.VisionAttention(), VisionMlp()

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class PatchMerger(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        h = q.VDIM * q.MERGE * q.MERGE
        self.ln_q = RMSNorm(q.VDIM)
        self.mlp = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.Linear(h, text_hidden))

    def forward(self, x):
        return self.mlp(self.ln_q(x).view(-1, q.VDIM * q.MERGE * q.MERGE))


class VisionTransformer(q.Qwen2VisionTransformer):
    def __init__(self, text_hidden):
        super().__init__(text_hidden)
        self.blocks = nn.ModuleList([Block() for _ in range(q.VLAYERS)])
        self.merger = PatchMerger(text_hidden)

    def window_index(self, n, grid_thw):
        """window_index over the n / merge² merged tokens, and each
        reordered token's window and temporal patch."""
        unit = q.MERGE * q.MERGE
        hh = torch.div(grid_thw[0, 1], q.MERGE, rounding_mode="floor")
        ww = torch.div(grid_thw[0, 2], q.MERGE, rounding_mode="floor")
        idx = torch.arange(torch.div(n, unit, rounding_mode="floor"), dtype=torch.int64)
        t = torch.div(idx, hh * ww, rounding_mode="floor")
        r = torch.div(idx - t * hh * ww, ww, rounding_mode="floor")
        c = idx - t * hh * ww - r * ww
        nwh = torch.div(hh + WINDOW_TOKENS - 1, WINDOW_TOKENS, rounding_mode="floor")
        nww = torch.div(ww + WINDOW_TOKENS - 1, WINDOW_TOKENS, rounding_mode="floor")
        rw, cw = torch.div(r, WINDOW_TOKENS, rounding_mode="floor"), torch.div(c, WINDOW_TOKENS, rounding_mode="floor")
        win = (t * nwh + rw) * nww + cw
        key = (win * WINDOW_TOKENS + (r - rw * WINDOW_TOKENS)) * WINDOW_TOKENS + (c - cw * WINDOW_TOKENS)
        order = torch.argsort(key)
        return order, win[order], t[order]

    def masks(self, n, grid_thw):
        """The window reorder and the additive masks of windowed and full
        blocks over the reordered patches."""
        unit = q.MERGE * q.MERGE
        order, win, frame = self.window_index(n, grid_thw)
        tok = torch.div(torch.arange(n, dtype=torch.int64), unit, rounding_mode="floor")
        pw, pf = win[tok], frame[tok]
        zero = torch.zeros((), dtype=torch.float32)
        window = torch.where(pw[:, None] == pw[None, :], zero, zero - float("inf"))
        full = torch.where(pf[:, None] == pf[None, :], zero, zero - float("inf"))
        return order, window, full

    def forward(self, pixel_values, grid_thw):
        n = pixel_values.shape[0]
        unit = q.MERGE * q.MERGE
        order, window, full = self.masks(n, grid_thw)
        x = self.patch_embed(pixel_values)
        x = x.reshape(-1, unit, q.VDIM)[order].reshape(n, q.VDIM)
        pos = self.positions(n, grid_thw).reshape(-1, unit, q.VDIM)[order].reshape(n, q.VDIM)
        x = x + pos
        for i, b in enumerate(self.blocks):
            x = b(x, full if i in FULLATT else window)
        x = self.merger(x)
        return x[torch.argsort(order)]


class VisionEncoder(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        self.visual = VisionTransformer(text_hidden)

    def forward(self, pixel_values, image_grid_thw):
        return self.visual(pixel_values, image_grid_thw)


def build(seed):
    """The module with its weights (qwen2vl.vision_weights' rule, its own
    seed)."""
    torch.manual_seed(seed)
    m = VisionEncoder(q.TEXT["hidden"])
    q.vision_weights(m, np.random.default_rng(seed))
    m.eval()
    return m


def export(m):
    f = io.BytesIO()
    n = 32
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(n, q.PDIM), torch.tensor([[1, 4, 8]], dtype=torch.int64)), f,
                          input_names=["pixel_values", "image_grid_thw"], output_names=["image_features"],
                          dynamic_axes={"pixel_values": {0: "num_patches"}, "image_grid_thw": {0: "num_images"},
                                        "image_features": {0: "num_image_tokens"}},
                          opset_version=14, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())

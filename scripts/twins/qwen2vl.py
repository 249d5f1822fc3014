#!/usr/bin/python3
"""Qwen2-VL twin: a random-weight folder with the layout, config keys, ONNX
file names and input/output names of onnx-community/Qwen2-VL-2B-Instruct as
transformers.js 4.3.1 runs it (model_type qwen2_vl,
Qwen2VLForConditionalGeneration: vision_encoder, embed_tokens,
decoder_model_merged), tiny and deterministic.

Usage: scripts/twins/qwen2vl.py [OUT_DIR]   (default: models/qwen2vl/testdata)

Writes OUT_DIR/qwen2vl-twin, OUT_DIR/qwen2_5vl-twin (the same weights in
Qwen2.5-VL's layout: make_25) and the test images OUT_DIR/images/*.png.

- Vision (torch.onnx.export, opset 14), named like transformers'
  Qwen2VisionTransformerPretrainedModel (`visual.*`): pixel_values
  [num_patches, 3·2·14·14 = 1176] and grid_thw int64 [1, 3] →
  image_features [num_patches/4, hidden] (2-D, as transformers.js's merge
  needs). patch_embed.proj is the Conv3d (temporal 2 × 14 × 14, no bias)
  written as a MatMul on the flattened patches; instead of the 2-D vision
  RoPE, a sinusoidal (row, column) embedding computed from grid_thw in the
  graph (so the graph reads the grid and the spatial layout matters); 2
  pre-LN blocks (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, quick_gelu,
  mlp.fc2) with full attention over the image (over each temporal patch of
  a video: grid_t > 1 repeats the frame's (row, column) embedding and masks
  attention to the patch's own temporal step, as Qwen2-VL's cu_seqlens
  does); the PatchMerger (ln_q, 2×2
  neighbours concatenated, mlp.0, GELU, mlp.2).
- Decoder: a Qwen2 decoder with M-RoPE (transformers' Qwen2VL module tree:
  q/k/v with biases, rope_scaling mrope_section [2, 3, 3] over head_dim 16,
  apply_multimodal_rotary_pos_emb), from torch_llama.py's Llama pieces,
  exported by torch.onnx.export with position_ids int64 [3, batch, seq]:
  hidden 64, 4 layers, 4 query and 2 KV heads; decoder_model_merged.onnx
  (fp32) and _q4 (onnx_rewrite.quantize_q4).
- Tokenizer: a Qwen2-style byte-level BPE tokenizer.json (NFC, Split on
  Qwen2's regex + ByteLevel without regex, ByteLevel decoder) with the
  special tokens <|endoftext|>, <|im_start|>, <|im_end|>, <|vision_start|>,
  <|vision_end|>, <|vision_pad|>, <|image_pad|>, <|video_pad|>; no BOS.
- Configs as Qwen/Qwen2-VL-2B-Instruct publishes them (decoder sizes at the
  top level of config.json, vision_config, rope_scaling mrope, the token ids;
  preprocessor_config.json with min_pixels / max_pixels (3136 / 12544 here:
  at most 16 visual tokens), patch 14, temporal patch 2, merge 2, CLIP
  mean/std, re-saved with size, do_resize, do_normalize and resample 3; the
  chat template in tokenizer_config.json and chat_template.json).

Needs Debian's python3-torch (1.13), python3-onnx and numpy: /usr/bin/python3.
"""
import io
import json
import os
import shutil
import sys

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_images  # noqa: E402
import onnx_rewrite  # noqa: E402
import tokenizer_twin  # noqa: E402
import torch_llama  # noqa: E402

PATCH, TPATCH, MERGE = 14, 2, 2
PDIM = 3 * TPATCH * PATCH * PATCH  # 1176
VDIM, VLAYERS, VHEADS, VFFN = 32, 2, 2, 64
TEXT = dict(hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ffn=96)
MROPE = [2, 3, 3]  # sums to head_dim / 2
ROPE_THETA, RMS_EPS = 1000000.0, 1e-6
MIN_PIXELS, MAX_PIXELS = 3136, 12544
VISION25_SEED = 52  # the Qwen2.5-VL twin's vision weights
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SCALES = {"q_proj": 2.0, "k_proj": 2.0, "v_proj": 1.0, "o_proj": 1.0, "gate_proj": 1.0, "up_proj": 1.0,
          "down_proj": 1.0, "lm_head": 3.0}

# The test images: name → (width, height, seed). Sides that are multiples
# of 28 with an area within [MIN_PIXELS, MAX_PIXELS] need no resize.
IMAGES = {
    "sq56": (56, 56, 401), "sq84": (84, 84, 402), "wide112x56": (112, 56, 403), "tall56x84": (56, 84, 404),
    "wide112x84": (112, 84, 405), "tiny20x14": (20, 14, 406), "round70x56": (70, 56, 407),
    "big200x150": (200, 150, 408),
}

CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
            "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]


def tokenizer():
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated", "invert": False}, bl]}
    tok, vocab = tokenizer_twin.build([], SPECIALS, 120, pre,
                                      {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                                       "use_regex": False},
                                      {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                                       "use_regex": False})
    tok["normalizer"] = {"type": "NFC"}
    return tok, vocab


# --- vision -------------------------------------------------------------------

class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(PDIM, VDIM, bias=False)  # Conv3d(3, D, (2, 14, 14)) on flattened patches

    def forward(self, x):
        return self.proj(x)


class VisionAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv, self.proj = nn.Linear(VDIM, 3 * VDIM), nn.Linear(VDIM, VDIM)

    def forward(self, x, mask):
        n = x.shape[0]
        hd = VDIM // VHEADS
        q, k, v = self.qkv(x).reshape(n, 3, VHEADS, hd).permute(1, 2, 0, 3).unbind(0)
        w = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(hd) + mask, dim=-1)
        return self.proj((w @ v).transpose(0, 1).reshape(n, VDIM))


class VisionMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(VDIM, VFFN), nn.Linear(VFFN, VDIM)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class Qwen2VLVisionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(VDIM, eps=1e-6), nn.LayerNorm(VDIM, eps=1e-6)
        self.attn, self.mlp = VisionAttention(), VisionMlp()

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class PatchMerger(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        h = VDIM * MERGE * MERGE
        self.ln_q = nn.LayerNorm(VDIM, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.Linear(h, text_hidden))

    def forward(self, x):
        return self.mlp(self.ln_q(x).view(-1, VDIM * MERGE * MERGE))


class Qwen2VisionTransformer(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList([Qwen2VLVisionBlock() for _ in range(VLAYERS)])
        self.merger = PatchMerger(text_hidden)
        q = VDIM // 4
        self.register_buffer("freq", 1.0 / (100.0 ** (torch.arange(q, dtype=torch.float32) / q)), persistent=False)

    def frame_of(self, n, grid_thw):
        """The temporal patch (frame pair) of each patch: grid_t groups of
        grid_h·grid_w patches, in order."""
        hw = grid_thw[0, 1] * grid_thw[0, 2]
        return torch.div(torch.arange(n, dtype=torch.int64), hw, rounding_mode="floor")

    def positions(self, n, grid_thw):
        """(row, column) of each patch in the processor's order: merge blocks
        row-major, the 2×2 patches of a block row-major inside it; every
        temporal patch of a video repeats its frame's (row, column), as
        Qwen2-VL's vision RoPE repeats its (h, w) ids grid_t times."""
        w = grid_thw[0, 2]
        idx = torch.arange(n, dtype=torch.int64)
        idx = idx - self.frame_of(n, grid_thw) * (grid_thw[0, 1] * w)
        blk = torch.div(idx, MERGE * MERGE, rounding_mode="floor")
        inb = idx - blk * (MERGE * MERGE)
        wb = torch.div(w, MERGE, rounding_mode="floor")
        brow = torch.div(blk, wb, rounding_mode="floor")
        bcol = blk - brow * wb
        row = brow * MERGE + torch.div(inb, MERGE, rounding_mode="floor")
        col = bcol * MERGE + (inb - torch.div(inb, MERGE, rounding_mode="floor") * MERGE)
        r = row.float()[:, None] * self.freq[None, :]
        c = col.float()[:, None] * self.freq[None, :]
        return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], dim=-1)

    def forward(self, pixel_values, grid_thw):
        x = self.patch_embed(pixel_values)
        n = pixel_values.shape[0]
        x = x + self.positions(n, grid_thw)
        # Attention stays inside each temporal patch (Qwen2-VL's cu_seqlens:
        # grid_h·grid_w patches per temporal step); all zeros for an image.
        f = self.frame_of(n, grid_thw)
        zero = torch.zeros((), dtype=torch.float32)
        mask = torch.where(f[:, None] == f[None, :], zero, zero - float("inf"))
        for b in self.blocks:
            x = b(x, mask)
        return self.merger(x)


class VisionEncoder(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        self.visual = Qwen2VisionTransformer(text_hidden)

    def forward(self, pixel_values, grid_thw):
        return self.visual(pixel_values, grid_thw)


def vision_weights(m, rng):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name or "ln_q" in name:
                w = (1.0 + 0.1 * rng.standard_normal(tuple(p.shape))) if name.endswith("weight") else \
                    0.1 * rng.standard_normal(tuple(p.shape))
            elif name.endswith("bias"):
                w = 0.1 * rng.standard_normal(tuple(p.shape))
            elif "patch_embed" in name:
                w = rng.standard_normal(tuple(p.shape)) * 4.0 / np.sqrt(p.shape[1])
            else:
                w = rng.standard_normal(tuple(p.shape)) * 1.5 / np.sqrt(p.shape[1])
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))


def export_vision(m):
    m.eval()
    f = io.BytesIO()
    n = 16
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(n, PDIM), torch.tensor([[1, 4, 4]], dtype=torch.int64)), f,
                          input_names=["pixel_values", "grid_thw"], output_names=["image_features"],
                          dynamic_axes={"pixel_values": {0: "num_patches"}, "grid_thw": {0: "num_images"},
                                        "image_features": {0: "num_image_tokens"}},
                          opset_version=14, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


# --- decoder --------------------------------------------------------------------

class Qwen2VLRotaryEmbedding(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids):
        # position_ids [3, batch, seq] → cos, sin [3, batch, seq, head_dim]
        inv = self.inv_freq[None, None, :, None].float().expand(3, position_ids.shape[1], -1, 1)
        pos = position_ids[:, :, None, :].float()
        freqs = (inv @ pos).transpose(2, 3)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype=x.dtype), emb.sin().to(dtype=x.dtype)


def apply_multimodal_rotary_pos_emb(q, k, cos, sin, mrope_section, unsqueeze_dim=1):
    sec = mrope_section * 2
    cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(sec, dim=-1))], dim=-1).unsqueeze(unsqueeze_dim)
    sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(sec, dim=-1))], dim=-1).unsqueeze(unsqueeze_dim)
    rh = torch_llama.rotate_half
    return (q * cos) + (rh(q) * sin), (k * cos) + (rh(k) * sin)


class Qwen2VLAttention(torch_llama.LlamaAttention):
    def __init__(self, c):
        super().__init__(c)
        h = c["hidden_size"]
        self.q_proj = nn.Linear(h, c["num_attention_heads"] * self.head_dim, bias=True)
        self.k_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=True)
        self.v_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=True)
        self.mrope_section = c["rope_scaling"]["mrope_section"]

    def forward(self, hidden_states, position_embeddings, attention_mask, past_key_value):
        # torch_llama's forward with apply_multimodal_rotary_pos_emb.
        saved = torch_llama.apply_rotary_pos_emb
        torch_llama.apply_rotary_pos_emb = lambda q, k, cos, sin: apply_multimodal_rotary_pos_emb(
            q, k, cos, sin, self.mrope_section)
        try:
            return super().forward(hidden_states, position_embeddings, attention_mask, past_key_value)
        finally:
            torch_llama.apply_rotary_pos_emb = saved


class Qwen2VLDecoderLayer(torch_llama.LlamaDecoderLayer):
    def __init__(self, c):
        super().__init__(c)
        self.self_attn = Qwen2VLAttention(c)


class Qwen2VLModel(torch_llama.LlamaModel):
    def __init__(self, c):
        super().__init__(c)
        self.layers = nn.ModuleList([Qwen2VLDecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.rotary_emb = Qwen2VLRotaryEmbedding(c["head_dim"], c["rope_theta"])


class Qwen2VLForCausalLM(torch_llama.LlamaForCausalLM):
    def __init__(self, c):
        super().__init__(c)
        self.model = Qwen2VLModel(c)


def init_lm(model, rng):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                w = 1.0 + 0.1 * rng.standard_normal(tuple(p.shape))
            elif name == "lm_head.bias":
                continue
            elif name.endswith(".bias"):
                w = 0.2 * rng.standard_normal(tuple(p.shape))
            else:
                w = rng.standard_normal(tuple(p.shape)) * SCALES[name.split(".")[-2]] / np.sqrt(p.shape[1])
            p.copy_(torch.from_numpy(w.astype(np.float32)))


def export_lm(model):
    c = model.config
    n, kvh, hd, hidden = c["num_hidden_layers"], c["num_key_value_heads"], c["head_dim"], c["hidden_size"]
    model.eval()
    b, s, past = 1, 3, 2
    args = [torch.zeros(b, s, hidden), torch.ones(b, past + s, dtype=torch.int64),
            torch.arange(past, past + s).view(1, 1, s).expand(3, b, s).contiguous()]
    names = ["inputs_embeds", "attention_mask", "position_ids"]
    total = "past_sequence_length + sequence_length"
    axes = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: total},
            "position_ids": {1: "batch_size", 2: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for i in range(n):
        for kv in ("key", "value"):
            args.append(torch.zeros(b, kvh, past, hd))
            names.append(f"past_key_values.{i}.{kv}")
            axes[names[-1]] = {0: "batch_size", 2: "past_sequence_length"}
    outs = ["logits"]
    for i in range(n):
        for kv in ("key", "value"):
            outs.append(f"present.{i}.{kv}")
            axes[outs[-1]] = {0: "batch_size", 2: total}
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, tuple(args), f, input_names=names, output_names=outs, dynamic_axes=axes,
                          opset_version=14, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


class EmbedTokens(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.embed_tokens = nn.Embedding(*table.shape)
        with torch.no_grad():
            self.embed_tokens.weight.copy_(torch.from_numpy(table))

    def forward(self, input_ids):
        return self.embed_tokens(input_ids)


def export_embed(table):
    m = EmbedTokens(table).eval()
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(1, 3, dtype=torch.int64),), f, input_names=["input_ids"],
                          output_names=["inputs_embeds"],
                          dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                        "inputs_embeds": {0: "batch_size", 1: "sequence_length"}},
                          opset_version=14, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


# --- folder -------------------------------------------------------------------

def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def make(out, seed):
    rng = np.random.default_rng(seed)
    tok, vocab = tokenizer()
    V = len(vocab)
    d = TEXT
    ids = {t: vocab[t] for t in SPECIALS}
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["Qwen2VLForConditionalGeneration"], "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
        "vision_token_id": ids["<|vision_pad|>"], "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"], "hidden_act": "silu", "hidden_size": d["hidden"],
        "initializer_range": 0.02, "intermediate_size": d["ffn"], "max_position_embeddings": 32768,
        "max_window_layers": d["layers"], "model_type": "qwen2_vl", "num_attention_heads": d["heads"],
        "num_hidden_layers": d["layers"], "num_key_value_heads": d["kv_heads"], "rms_norm_eps": RMS_EPS,
        "rope_theta": ROPE_THETA, "sliding_window": 32768, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.45.0.dev0", "use_cache": True, "use_sliding_window": False,
        "vision_config": {"depth": VLAYERS, "embed_dim": VDIM, "mlp_ratio": VFFN / VDIM, "num_heads": VHEADS,
                          "in_chans": 3, "hidden_size": d["hidden"], "patch_size": PATCH,
                          "spatial_merge_size": MERGE, "spatial_patch_size": PATCH,
                          "temporal_patch_size": TPATCH},
        "rope_scaling": {"type": "mrope", "mrope_section": MROPE}, "vocab_size": V,
    })
    write_json(os.path.join(out, "generation_config.json"), {
        "bos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "do_sample": False,
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "transformers_version": "4.45.0.dev0"})
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_processor_type": "Qwen2VLImageProcessor", "image_std": CLIP_STD,
        "max_pixels": MAX_PIXELS, "merge_size": MERGE, "min_pixels": MIN_PIXELS, "patch_size": PATCH,
        "processor_class": "Qwen2VLProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"longest_edge": MAX_PIXELS, "shortest_edge": MIN_PIXELS}, "temporal_patch_size": TPATCH})
    write_json(os.path.join(out, "chat_template.json"), {"chat_template": CHAT_TEMPLATE})
    write_json(os.path.join(out, "tokenizer.json"), tok)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tok["added_tokens"]},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                                      "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
                                      "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
                                      "<|video_pad|>"],
        "bos_token": None, "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 32768, "pad_token": "<|endoftext|>",
        "padding_side": "left", "processor_class": "Qwen2VLProcessor", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None})

    # Tokens a random decoder must never emit (model-formats.md §10.2): the
    # vision structure tokens (transformers.js would re-merge them) and
    # bytes that are not printable ASCII (a random sequence of them is
    # invalid UTF-8).
    bias = np.zeros(V, dtype=np.float32)
    for t in SPECIALS:
        if t not in ("<|im_end|>", "<|endoftext|>"):
            bias[vocab[t]] = -1e4
    b2u = tokenizer_twin.bytes_to_unicode()
    for b in list(range(0x00, 0x20)) + list(range(0x7F, 0x100)):
        bias[vocab[b2u[b]]] = -1e4
    table = rng.standard_normal((V, d["hidden"])).astype(np.float32)
    torch.manual_seed(seed)
    vis = VisionEncoder(d["hidden"])
    vision_weights(vis, rng)
    c = {"hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
         "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
         "vocab_size": V, "rope_theta": ROPE_THETA, "rms_norm_eps": RMS_EPS,
         "rope_scaling": {"type": "mrope", "mrope_section": MROPE}}
    torch.manual_seed(seed + 1)
    lm = Qwen2VLForCausalLM(c)
    init_lm(lm, np.random.default_rng(seed + 1000))
    with torch.no_grad():
        lm.lm_head.bias.copy_(torch.from_numpy(bias))
    fp32 = export_lm(lm)
    files = {
        "vision_encoder": export_vision(vis),
        "embed_tokens": export_embed(table),
        "decoder_model_merged": fp32,
        "decoder_model_merged_q4": onnx_rewrite.quantize_q4(fp32),
    }
    for name, m in files.items():
        with open(os.path.join(out, "onnx", name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


def make_25(src, out):
    """The Qwen2.5-VL twin: src's weights and files in the layout of
    onnx-community's Qwen2.5-VL exports (model_type qwen2_5_vl): the decoder
    sizes in text_config (model_type qwen2_5_vl_text; transformers.js reads
    them only there) besides the top level, vision_config with Qwen2.5-VL's
    keys, Qwen2_5_VLProcessor, and the vision graph's grid input named
    image_grid_thw. The decoder, embedding and q4 files are src's bytes (git
    stores them once); the vision graph is Qwen2.5-VL's own structure
    (qwen25_vision.py: window reorder, windowed and full attention blocks,
    RMSNorm, gated MLP, reverse reorder), with its own weights."""
    import qwen25_vision  # here, not at the top: it imports this module (a cycle when this one is imported first)

    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(src, out)
    with open(os.path.join(src, "config.json")) as f:
        c = json.load(f)
    text_keys = ["hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
                 "num_key_value_heads", "rms_norm_eps", "rope_theta", "max_position_embeddings", "sliding_window",
                 "use_sliding_window", "max_window_layers", "hidden_act", "rope_scaling", "vocab_size",
                 "tie_word_embeddings", "attention_dropout", "initializer_range", "use_cache", "torch_dtype"]
    text = {"architectures": ["Qwen2_5_VLTextModel"], "model_type": "qwen2_5_vl_text"}
    text.update({k: c[k] for k in text_keys})
    c["architectures"] = ["Qwen2_5_VLForConditionalGeneration"]
    c["model_type"] = "qwen2_5_vl"
    c["text_config"] = text
    c["transformers_version"] = "4.56.0"
    v = c["vision_config"]
    c["vision_config"] = {"depth": v["depth"], "fullatt_block_indexes": qwen25_vision.FULLATT, "hidden_act": "silu",
                          "hidden_size": VDIM, "in_channels": 3, "in_chans": 3, "intermediate_size": VFFN,
                          "model_type": "qwen2_5_vl", "num_heads": VHEADS, "out_hidden_size": TEXT["hidden"],
                          "patch_size": PATCH, "spatial_merge_size": MERGE, "spatial_patch_size": PATCH,
                          "temporal_patch_size": TPATCH, "tokens_per_second": 2,
                          "window_size": qwen25_vision.WINDOW_SIZE}
    write_json(os.path.join(out, "config.json"), c)
    for name in ("preprocessor_config.json", "tokenizer_config.json"):
        with open(os.path.join(out, name)) as f:
            d = json.load(f)
        d["processor_class"] = "Qwen2_5_VLProcessor"
        write_json(os.path.join(out, name), d)
    with open(os.path.join(out, "onnx", "vision_encoder.onnx"), "wb") as f:
        f.write(qwen25_vision.export(qwen25_vision.build(VISION25_SEED)).SerializeToString())


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "qwen2vl", "testdata")
    make(os.path.join(out, "qwen2vl-twin"), seed=51)
    make_25(os.path.join(out, "qwen2vl-twin"), os.path.join(out, "qwen2_5vl-twin"))
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for name, (w, h, s) in sorted(IMAGES.items()):
        make_images.png(os.path.join(out, "images", name + ".png"), make_images.image(name, w, h, s))


if __name__ == "__main__":
    main()

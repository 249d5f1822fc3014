#!/usr/bin/python3
"""LLaVA-OneVision twin: a random-weight folder with the layout, config keys,
ONNX file names and input/output names of
`llava-hf/llava-onevision-qwen2-0.5b-ov-hf` as transformers.js 4.3.1 runs it
(model_type llava_onevision, LlavaOnevisionForConditionalGeneration =
LlavaForConditionalGeneration: vision_encoder, embed_tokens,
decoder_model_merged), tiny and deterministic.

Usage: scripts/twins/llavaonevision.py [OUT_DIR]   (default: models/llavaonevision/testdata)

Writes OUT_DIR/llava-onevision-twin and the test images OUT_DIR/images/*.png.

transformers.js 4.3.1 has no anyres for this model type: its
LlavaOnevisionImageProcessor is the base image processor (a squash resize to
size {height, width}, rescale, normalize, do_pad to the same size) and there
is no LlavaOnevisionProcessor, so each image is one pixel_values entry and
its features go into the prompt's <image> rows as the vision graph returns
them (model-formats.md §4, §12.8). The twin follows that contract:

- Vision (torch.onnx.export, opset 14): a SigLIP vision tower named like
  transformers' SiglipVisionModel (conv patch embedding with bias, learned
  positions, no CLS, 2 pre-LN encoder layers with gelu(tanh)), 70 px images
  with 14 px patches (5×5 = 25 patches), hidden_states[vision_feature_layer =
  -1] (vision_feature_select_strategy "full": every patch), then the LLaVA
  projector (linear_1, GELU, linear_2). pixel_values (batch, 3, 70, 70) →
  image_features (batch, 25, 64). processor_config.json's num_image_tokens
  is 25 (the real file's 729 = 27×27 at 384 px).
- Decoder: a Qwen2 decoder (torch_llama.py's Llama module tree with q/k/v
  biases) exported by torch.onnx.export: hidden 64, 4 layers, 4 query and 2
  KV heads of 16, intermediate 96, rope_theta 1e6; decoder_model_merged.onnx
  (fp32), _fp16 (float16 weights and KV cache) and _q4 (MatMulNBits);
  embed_tokens and vision_encoder fp32 only.
- Tokenizer: Qwen2-style byte-level BPE (as the Qwen2-VL twin) with
  <|endoftext|>, <|im_start|>, <|im_end|>, <image>, <video> added after the
  vocabulary, as in llava-hf's file; no BOS.
- Configs as llava-hf publishes them (config.json with image_grid_pinpoints,
  vision_aspect_ratio anyres_max_9, use_image_newline_parameter — which
  transformers.js does not read; preprocessor_config.json
  LlavaOnevisionImageProcessor with do_pad; processor_config.json), the
  LLaVA-OneVision chat template in tokenizer_config.json (which
  transformers.js's tokenizer renders) and chat_template.json.
- model.safetensors holding only image_newline (float32, 64 values), which
  transformers.js never reads; vlmrun's Python anyres layout does.

Needs Debian's python3-torch (1.13), python3-onnx and numpy: /usr/bin/python3.
"""
import io
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llava  # noqa: E402
import make_images  # noqa: E402
import onnx_rewrite  # noqa: E402
import qwen2vl  # noqa: E402
import tokenizer_twin  # noqa: E402
import torch_llama  # noqa: E402

IMAGE, PATCH = 70, 14
VDIM, VLAYERS, VHEADS, VFFN = 32, 2, 2, 64
TEXT = dict(hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ffn=96)
ROPE_THETA, RMS_EPS = 1000000.0, 1e-6
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
# llava-hf's pinpoints are multiples of 384 up to 6×6; the twin's are the
# same multiples of 70 (not read by transformers.js 4.3.1).
PINPOINTS = [[IMAGE * a, IMAGE * b] for a in range(1, 7) for b in range(1, 7)]

# The test images: name → (width, height, seed). Only IMAGE×IMAGE images
# need no resize (transformers.js squashes every image to 70×70 with sharp).
IMAGES = {
    "sq70": (70, 70, 601), "sq70b": (70, 70, 602), "wide140x70": (140, 70, 603), "tall70x105": (70, 105, 604),
    "tiny20x14": (20, 14, 605), "big100x80": (100, 80, 606),
}

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]


def tokenizer():
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": qwen2vl.QWEN_PATTERN}, "behavior": "Isolated", "invert": False}, bl]}
    tok, vocab = tokenizer_twin.build([], SPECIALS, 120, pre, dict(bl), dict(bl))
    tok["normalizer"] = {"type": "NFC"}
    return tok, vocab


# --- vision tower (SigLIP) + projector ------------------------------------------

class SiglipAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.head_dim = VDIM // VHEADS
        self.k_proj, self.v_proj = nn.Linear(VDIM, VDIM), nn.Linear(VDIM, VDIM)
        self.q_proj, self.out_proj = nn.Linear(VDIM, VDIM), nn.Linear(VDIM, VDIM)

    def forward(self, x):
        b, n, _ = x.shape

        def heads(t):
            return t.view(b, n, VHEADS, self.head_dim).transpose(1, 2)
        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        w = torch.softmax((q @ k.transpose(2, 3)) * self.head_dim ** -0.5, dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, VDIM))


class SiglipMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(VDIM, VFFN), nn.Linear(VFFN, VDIM)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class SiglipEncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn, self.mlp = SiglipAttention(), SiglipMLP()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(VDIM), nn.LayerNorm(VDIM)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class SiglipEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([SiglipEncoderLayer() for _ in range(VLAYERS)])


class SiglipVisionEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMAGE // PATCH) ** 2
        self.patch_embedding = nn.Conv2d(3, VDIM, PATCH, PATCH)
        self.position_embedding = nn.Embedding(n, VDIM)
        self.register_buffer("position_ids", torch.arange(n).unsqueeze(0), persistent=False)

    def forward(self, pixel_values):
        p = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        return p + self.position_embedding(self.position_ids)


class SiglipVisionTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = SiglipVisionEmbeddings()
        self.encoder = SiglipEncoder()
        self.post_layernorm = nn.LayerNorm(VDIM)  # not used: hidden_states[-1] precedes it


class SiglipVisionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_model = SiglipVisionTransformer()


class OnevisionVision(nn.Module):
    """vision_tower + multi_modal_projector, as transformers.js's
    vision_encoder: pixel_values → image_features."""

    def __init__(self, text_hidden):
        super().__init__()
        self.vision_tower = SiglipVisionModel()
        self.multi_modal_projector = llava.LlavaMultiModalProjector(text_hidden)

    def forward(self, pixel_values):
        vm = self.vision_tower.vision_model
        h = vm.embeddings(pixel_values)
        for layer in vm.encoder.layers:
            h = layer(h)
        # hidden_states[-1], strategy "full": every patch row.
        return self.multi_modal_projector(h)


def export_vision(m):
    m.eval()
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(1, 3, IMAGE, IMAGE),), f, input_names=["pixel_values"],
                          output_names=["image_features"],
                          dynamic_axes={"pixel_values": {0: "batch_size"}, "image_features": {0: "batch_size"}},
                          opset_version=14, do_constant_folding=True)
    return onnx.load_from_string(f.getvalue())


# --- decoder (Qwen2: Llama with q/k/v biases) --------------------------------------

class Qwen2Attention(torch_llama.LlamaAttention):
    def __init__(self, c):
        super().__init__(c)
        h = c["hidden_size"]
        self.q_proj = nn.Linear(h, c["num_attention_heads"] * self.head_dim, bias=True)
        self.k_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=True)
        self.v_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=True)


class Qwen2DecoderLayer(torch_llama.LlamaDecoderLayer):
    def __init__(self, c):
        super().__init__(c)
        self.self_attn = Qwen2Attention(c)


class Qwen2Model(torch_llama.LlamaModel):
    def __init__(self, c):
        super().__init__(c)
        self.layers = nn.ModuleList([Qwen2DecoderLayer(c) for _ in range(c["num_hidden_layers"])])


class Qwen2ForCausalLM(torch_llama.LlamaForCausalLM):
    def __init__(self, c):
        super().__init__(c)
        self.model = Qwen2Model(c)


# --- folder ---------------------------------------------------------------------

def make(out, seed):
    rng = np.random.default_rng(seed)
    tok, vocab = tokenizer()
    V = len(vocab)
    d = TEXT
    ids = {t: vocab[t] for t in SPECIALS}
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    write = llava.write_json
    write(os.path.join(out, "config.json"), {
        "architectures": ["LlavaOnevisionForConditionalGeneration"], "ignore_index": -100,
        "image_grid_pinpoints": PINPOINTS, "image_token_index": ids["<image>"], "model_type": "llava_onevision",
        "projector_hidden_act": "gelu",
        "text_config": {
            "_name_or_path": "Qwen/Qwen2-0.5B-Instruct", "architectures": ["Qwen2ForCausalLM"],
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "hidden_size": d["hidden"],
            "intermediate_size": d["ffn"], "max_position_embeddings": 32768, "max_window_layers": d["layers"],
            "model_type": "qwen2", "num_attention_heads": d["heads"], "num_hidden_layers": d["layers"],
            "num_key_value_heads": d["kv_heads"], "rms_norm_eps": RMS_EPS, "rope_theta": ROPE_THETA,
            "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "use_sliding_window": False, "vocab_size": V},
        "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.45.0.dev0",
        "use_image_newline_parameter": True, "video_token_index": ids["<video>"],
        "vision_aspect_ratio": "anyres_max_9",
        "vision_config": {
            "hidden_size": VDIM, "image_size": IMAGE, "intermediate_size": VFFN, "model_type": "siglip_vision_model",
            "num_attention_heads": VHEADS, "num_hidden_layers": VLAYERS, "patch_size": PATCH,
            "vision_use_head": False},
        "vision_feature_layer": -1, "vision_feature_select_strategy": "full",
    })
    write(os.path.join(out, "generation_config.json"), {
        "_from_model_config": True, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
        "transformers_version": "4.45.0.dev0"})
    write(os.path.join(out, "preprocessor_config.json"), {
        "do_convert_rgb": True, "do_normalize": True, "do_pad": True, "do_rescale": True, "do_resize": True,
        "image_grid_pinpoints": PINPOINTS, "image_mean": MEAN, "image_processor_type": "LlavaOnevisionImageProcessor",
        "image_std": STD, "processor_class": "LlavaOnevisionProcessor", "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"height": IMAGE, "width": IMAGE}})
    write(os.path.join(out, "processor_config.json"), {
        "image_token": "<image>", "num_image_tokens": (IMAGE // PATCH) ** 2,
        "processor_class": "LlavaOnevisionProcessor", "video_token": "<video>",
        "vision_feature_select_strategy": "full"})
    write(os.path.join(out, "chat_template.json"), {"chat_template": CHAT_TEMPLATE})
    write(os.path.join(out, "tokenizer.json"), tok)
    write(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tok["added_tokens"]},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
        "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "errors": "replace", "model_max_length": 32768, "pad_token": "<|endoftext|>", "padding_side": "left",
        "processor_class": "LlavaOnevisionProcessor", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None})
    write(os.path.join(out, "special_tokens_map.json"), {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>"})
    write(os.path.join(out, "added_tokens.json"), {t: ids[t] for t in SPECIALS})

    # Tokens a random decoder must never emit (model-formats.md §10.2): the
    # image/video tokens (transformers.js would re-merge them), the chat
    # markers, and bytes that are not printable ASCII (a random sequence of
    # them is invalid UTF-8, which a streaming detokenizer refuses).
    bias = np.zeros(V, dtype=np.float32)
    for t in ("<|endoftext|>", "<|im_start|>", "<image>", "<video>"):
        bias[vocab[t]] = -1e4
    b2u = tokenizer_twin.bytes_to_unicode()
    for b in list(range(0x00, 0x20)) + list(range(0x7F, 0x100)):
        bias[vocab[b2u[b]]] = -1e4
    table = rng.standard_normal((V, d["hidden"])).astype(np.float32)
    torch.manual_seed(seed)
    vis = OnevisionVision(d["hidden"])
    llava.vision_weights(vis, rng)
    c = {"hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
         "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
         "vocab_size": V, "rope_theta": ROPE_THETA, "rms_norm_eps": RMS_EPS}

    def lm():
        torch.manual_seed(seed + 1)
        m = Qwen2ForCausalLM(c)
        qwen2vl.init_lm(m, np.random.default_rng(seed + 1000))
        with torch.no_grad():
            m.lm_head.bias.copy_(torch.from_numpy(bias))
        return m

    fp32 = torch_llama.export(lm())
    files = {
        "vision_encoder": export_vision(vis),
        "embed_tokens": llava.export_embed(table),
        "decoder_model_merged": fp32,
        "decoder_model_merged_fp16": torch_llama.export(lm(), half=True),
        "decoder_model_merged_q4": onnx_rewrite.quantize_q4(fp32),
    }
    for name, m in files.items():
        with open(os.path.join(out, "onnx", name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


def write_newline(out, seed):
    """model.safetensors holding only image_newline (text hidden size,
    float32, drawn as LlavaOnevisionModel initialises it: normal with std
    1/sqrt(hidden)), for vlmrun's Python anyres layout; transformers.js
    never reads it. Its own generator, so the other files' draws are
    unchanged."""
    import json
    import struct
    v = (np.random.default_rng(seed + 2000).standard_normal(TEXT["hidden"]) / np.sqrt(TEXT["hidden"])).astype("<f4")
    data = v.tobytes()
    hdr = json.dumps({"image_newline": {"dtype": "F32", "shape": [TEXT["hidden"]], "data_offsets": [0, len(data)]}},
                     separators=(",", ":")).encode()
    hdr += b" " * (-len(hdr) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + data)


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "llavaonevision", "testdata")
    make(os.path.join(out, "llava-onevision-twin"), seed=61)
    write_newline(os.path.join(out, "llava-onevision-twin"), seed=61)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for name, (w, h, s) in sorted(IMAGES.items()):
        make_images.png(os.path.join(out, "images", name + ".png"), make_images.image(name, w, h, s))


if __name__ == "__main__":
    main()

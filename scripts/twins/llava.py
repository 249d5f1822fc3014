#!/usr/bin/python3
"""LLaVA-1.5 twin: a random-weight folder with the layout, config keys, ONNX
file names and input/output names of a `llava-hf/llava-1.5-7b-hf`-style
export as transformers.js 4.3.1 runs it (model_type llava,
LlavaForConditionalGeneration: vision_encoder, embed_tokens,
decoder_model_merged), tiny and deterministic.

Usage: scripts/twins/llava.py [OUT_DIR]   (default: models/llava/testdata)

Writes OUT_DIR/llava-twin and the test images OUT_DIR/images/*.png.

- Vision (torch.onnx.export, opset 14): a CLIP vision tower named like
  transformers' CLIPVisionModel (conv patch embedding without bias, class
  embedding, learned positions, pre_layrnorm, 2 pre-LN encoder layers with
  quick_gelu), 56 px images with 14 px patches (4×4 = 16 patches + CLS),
  hidden_states[vision_feature_layer = -2], then the LLaVA projector
  (linear_1, GELU, linear_2). pixel_values (batch, 3, 56, 56) →
  image_features (batch, 17, 64). The graph keeps the CLS row: with the
  published processor_config.json (num_additional_image_tokens 1,
  vision_feature_select_strategy "default") transformers.js's
  LlavaProcessor expands 16 + 1 = 17 <image> tokens (it does not subtract
  the CLS row as Python does; model-formats.md §12.6), and the merge needs
  one feature per token.
- Decoder: torch_llama.py (transformers' Llama module tree, eager
  attention) exported by torch.onnx.export: hidden 64, 4 layers, 4 query and
  2 KV heads of 16, intermediate 96; decoder_model_merged.onnx (fp32),
  _fp16 and _q4 (onnx_rewrite.quantize_q4); embed_tokens and vision_encoder
  fp32 only (per-file dtypes: fp32,decoder_model_merged=q4).
- Tokenizer: a Llama/SentencePiece-style tokenizer.json (normalizer Prepend
  "▁" + Replace " " → "▁", no pre-tokenizer, BPE with byte_fallback,
  <unk> <s> </s> then the 256 <0xNN> byte tokens, TemplateProcessing adding
  <s>), added tokens <image> and <pad> after the vocabulary as in llava-hf.
- Configs as llava-hf publishes them (CLIPImageProcessor: shortest_edge 56,
  crop 56×56, bicubic, CLIP mean/std), chat_template.json with the LLaVA-1.5
  "USER: <image>\\n... ASSISTANT:" template (transformers.js 4.3.1 does not
  read chat_template.json).

Needs Debian's python3-torch (1.13), python3-onnx and numpy: /usr/bin/python3.
"""
import collections
import io
import json
import os
import re
import sys

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_images  # noqa: E402
import onnx_rewrite  # noqa: E402
import torch_llama  # noqa: E402

IMAGE, PATCH = 56, 14
VDIM, VLAYERS, VHEADS, VFFN = 32, 2, 2, 64
FEATURE_LAYER = -2
TEXT = dict(hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ffn=96)
ROPE_THETA, RMS_EPS = 10000.0, 1e-5
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SCALES = {"q_proj": 2.0, "k_proj": 2.0, "v_proj": 1.0, "o_proj": 1.0, "gate_proj": 1.0, "up_proj": 1.0,
          "down_proj": 1.0, "lm_head": 3.0}

# The test images: name → (width, height, seed). Exact cases need no resize
# (shortest edge already 56); the crop then takes the middle 56×56.
IMAGES = {
    "sq56": (56, 56, 301), "wide112x56": (112, 56, 302), "tall56x84": (56, 84, 303), "wide75x56": (75, 56, 304),
    "sq56b": (56, 56, 305), "tiny20x14": (20, 14, 306), "big100x80": (100, 80, 307),
}

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

CORPUS = """USER: Describe this image. ASSISTANT: The image shows a red circle and a blue square.
What is in the picture? Describe the image in one sentence. A photo of the object on the table.
What does the image describe? Locate the objects in the image. There is a green triangle at the top left.
the a of and in on with to is are this that there picture photo shows small large left right top bottom
"""


# --- tokenizer ---------------------------------------------------------------

def learn_merges(n_merges):
    words = collections.Counter()
    for w in re.findall(r" ?[^ ]+", CORPUS.replace("\n", " ")):
        words[tuple(w.replace(" ", "▁"))] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 2:
            break
        merges.append((a, b))
        nw = collections.Counter()
        for w, cnt in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] += cnt
        words = nw
    return merges


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def tokenizer():
    """Returns (tokenizer.json dict, {token: id})."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    chars = sorted(set(CORPUS.replace(" ", "▁").replace("\n", "")) | {"▁"})
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    merges = learn_merges(110)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for t in ("<image>", "<pad>"):
        vocab[t] = len(vocab)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(vocab[t], t) for t in ("<unk>", "<s>", "</s>", "<image>", "<pad>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    return tok, vocab


# --- vision tower + projector -------------------------------------------------

class CLIPAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.head_dim = VDIM // VHEADS
        self.scale = self.head_dim ** -0.5
        self.k_proj, self.v_proj = nn.Linear(VDIM, VDIM), nn.Linear(VDIM, VDIM)
        self.q_proj, self.out_proj = nn.Linear(VDIM, VDIM), nn.Linear(VDIM, VDIM)

    def forward(self, x):
        b, n, _ = x.shape

        def heads(t):
            return t.view(b, n, VHEADS, self.head_dim).transpose(1, 2)
        q, k, v = heads(self.q_proj(x) * self.scale), heads(self.k_proj(x)), heads(self.v_proj(x))
        w = torch.softmax(q @ k.transpose(2, 3), dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, VDIM))


class CLIPMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(VDIM, VFFN), nn.Linear(VFFN, VDIM)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn, self.mlp = CLIPAttention(), CLIPMLP()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(VDIM), nn.LayerNorm(VDIM)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer() for _ in range(VLAYERS)])


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMAGE // PATCH) ** 2 + 1
        self.class_embedding = nn.Parameter(torch.zeros(VDIM))
        self.patch_embedding = nn.Conv2d(3, VDIM, PATCH, PATCH, bias=False)
        self.position_embedding = nn.Embedding(n, VDIM)
        self.register_buffer("position_ids", torch.arange(n).unsqueeze(0), persistent=False)

    def forward(self, pixel_values):
        p = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixel_values.shape[0], 1, -1)
        return torch.cat([cls, p], dim=1) + self.position_embedding(self.position_ids)


class CLIPVisionTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings()
        self.pre_layrnorm = nn.LayerNorm(VDIM)
        self.encoder = CLIPEncoder()
        self.post_layernorm = nn.LayerNorm(VDIM)  # unused by LLaVA (hidden_states, not the pooled output)


class CLIPVisionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_model = CLIPVisionTransformer()


class LlavaMultiModalProjector(nn.Module):
    def __init__(self, text_hidden):
        super().__init__()
        self.linear_1 = nn.Linear(VDIM, text_hidden)
        self.linear_2 = nn.Linear(text_hidden, text_hidden)

    def forward(self, x):
        return self.linear_2(nn.functional.gelu(self.linear_1(x)))


class LlavaVision(nn.Module):
    """vision_tower + multi_modal_projector, as transformers.js's
    vision_encoder: pixel_values → image_features."""

    def __init__(self, text_hidden):
        super().__init__()
        self.vision_tower = CLIPVisionModel()
        self.multi_modal_projector = LlavaMultiModalProjector(text_hidden)

    def forward(self, pixel_values):
        vm = self.vision_tower.vision_model
        h = vm.pre_layrnorm(vm.embeddings(pixel_values))
        hidden_states = [h]
        for layer in vm.encoder.layers:
            h = layer(h)
            hidden_states.append(h)
        # hidden_states[vision_feature_layer]; every row kept (CLS included).
        return self.multi_modal_projector(hidden_states[FEATURE_LAYER])


def vision_weights(m, rng):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:
                w = (1.0 + 0.1 * rng.standard_normal(tuple(p.shape))) if name.endswith("weight") else \
                    0.1 * rng.standard_normal(tuple(p.shape))
            elif name.endswith("bias"):
                w = 0.1 * rng.standard_normal(tuple(p.shape))
            elif "patch_embedding" in name:
                w = rng.standard_normal(tuple(p.shape)) * 2.0 / np.sqrt(3 * PATCH * PATCH)
            elif "class_embedding" in name or "position_embedding" in name:
                w = rng.standard_normal(tuple(p.shape)) * 0.5
            else:
                w = rng.standard_normal(tuple(p.shape)) * 1.5 / np.sqrt(p.shape[1])
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))


def export_vision(m):
    m.eval()
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(1, 3, IMAGE, IMAGE),), f, input_names=["pixel_values"],
                          output_names=["image_features"],
                          dynamic_axes={"pixel_values": {0: "batch_size"}, "image_features": {0: "batch_size"}},
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
    img_id, pad_id = vocab["<image>"], vocab["<pad>"]
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    d = TEXT
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": img_id,
        "model_type": "llava", "pad_token_id": pad_id, "projector_hidden_act": "gelu",
        "text_config": {
            "_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
            "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
            "max_position_embeddings": 4096, "rms_norm_eps": RMS_EPS, "rope_theta": ROPE_THETA,
            "torch_dtype": "float16", "vocab_size": V},
        "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.36.0.dev0",
        "vision_config": {
            "hidden_size": VDIM, "image_size": IMAGE, "intermediate_size": VFFN, "model_type": "clip_vision_model",
            "num_attention_heads": VHEADS, "num_hidden_layers": VLAYERS, "patch_size": PATCH,
            "projection_dim": VDIM, "vocab_size": 32000},
        "vision_feature_layer": FEATURE_LAYER, "vision_feature_select_strategy": "default", "vocab_size": V,
    })
    write_json(os.path.join(out, "generation_config.json"), {
        "_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": pad_id,
        "transformers_version": "4.36.0.dev0"})
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": IMAGE, "width": IMAGE}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "processor_class": "LlavaProcessor",
        "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": IMAGE}})
    write_json(os.path.join(out, "processor_config.json"), {
        "image_token": "<image>", "num_additional_image_tokens": 1, "patch_size": PATCH,
        "processor_class": "LlavaProcessor", "vision_feature_select_strategy": "default"})
    write_json(os.path.join(out, "chat_template.json"), {"chat_template": CHAT_TEMPLATE})
    write_json(os.path.join(out, "tokenizer.json"), tok)
    specials = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    write_json(os.path.join(out, "tokenizer_config.json"), dict(specials, **{
        "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False, "legacy": False,
        "model_max_length": 4096, "padding_side": "left", "processor_class": "LlavaProcessor",
        "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "use_default_system_prompt": False,
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                 for t in tok["added_tokens"]}}))
    write_json(os.path.join(out, "special_tokens_map.json"), specials)

    # Tokens a random decoder must never emit (model-formats.md §10.2).
    bias = np.zeros(V, dtype=np.float32)
    for t in ("<unk>", "<s>", "<image>", "<pad>"):
        bias[vocab[t]] = -1e4
    # Byte-fallback tokens of non-ASCII bytes too: a random decoder strings
    # them into invalid UTF-8, whose U+FFFD decoding changes as tokens
    # arrive, which a streaming detokenizer (vlmrun's, like the Rust
    # crate's DecodeStream) refuses mid-caption.
    for b in range(0x80, 0x100):
        bias[vocab[f"<0x{b:02X}>"]] = -1e4
    table = rng.standard_normal((V, d["hidden"])).astype(np.float32)
    torch.manual_seed(seed)
    vis = LlavaVision(d["hidden"])
    vision_weights(vis, rng)
    c = {"hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
         "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
         "vocab_size": V, "rope_theta": ROPE_THETA, "rms_norm_eps": RMS_EPS}

    def lm():
        torch.manual_seed(seed + 1)
        m = torch_llama.LlamaForCausalLM(c)
        torch_llama.init_weights(m, np.random.default_rng(seed + 1000), SCALES)
        with torch.no_grad():
            m.lm_head.bias.copy_(torch.from_numpy(bias))
        return m

    fp32 = torch_llama.export(lm())
    files = {
        "vision_encoder": export_vision(vis),
        "embed_tokens": export_embed(table),
        "decoder_model_merged": fp32,
        "decoder_model_merged_fp16": torch_llama.export(lm(), half=True),
        "decoder_model_merged_q4": onnx_rewrite.quantize_q4(fp32),
    }
    for name, m in files.items():
        with open(os.path.join(out, "onnx", name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "llava", "testdata")
    make(os.path.join(out, "llava-twin"), seed=41)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for name, (w, h, s) in sorted(IMAGES.items()):
        make_images.png(os.path.join(out, "images", name + ".png"), make_images.image(name, w, h, s))


if __name__ == "__main__":
    main()

"""Exports a trained scenes-tiny checkpoint as a Hugging Face-style model folder.

Usage: /usr/bin/python3 scripts/scenes/export.py --ckpt build/scenes/ckpt.pt --out models/scenes-tiny

Files written (same conventions as real onnx-community exports, plus the
vision encoder's extra outputs vlmrun's pruning needs; in-decoder pruning
derives its per-layer stages from the merged decoder at load time):
  config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json,
  generation_config.json, special_tokens_map.json
  onnx/vision_encoder.onnx      pixel_values -> image_features, patch_features,
                                cls_attention, patch_keys
  onnx/embed_tokens.onnx        input_ids -> inputs_embeds
  onnx/decoder_model_merged.onnx inputs_embeds, attention_mask, position_ids,
                                past_key_values.{i}.key/value -> logits, present.{i}.key/value
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from common import (SPECIALS, VOCAB, BOS, EOS, PAD, UNK, IMAGE, N_IMAGE, GRID,
                    IMAGE_SIZE, PROMPT_TEXT)
from model import SceneVLM, Cfg, additive_mask

OPSET = 14


class VisionExport(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        patches, _, cls_att, keys = self.m.vision(pixel_values)
        return self.m.proj(patches), patches, cls_att, keys


class EmbedExport(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids):
        return self.m.embed(input_ids)


class MergedExport(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        mask = additive_mask(attention_mask, inputs_embeds.shape[1])
        x = inputs_embeds
        present = []
        for i, layer in enumerate(self.m.layers):
            x, k, v, _ = layer(x, mask, position_ids, past[2 * i], past[2 * i + 1])
            present += [k, v]
        return (self.m.lm_head(self.m.norm(x)), *present)


def export(mod, args, path, inputs, outputs, axes):
    torch.onnx.export(mod, args, path, input_names=inputs, output_names=outputs,
                      dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)


def tokenizer_json():
    added = [{"id": VOCAB[t], "content": t, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for t in SPECIALS]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}},
        },
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": VOCAB, "unk_token": "<unk>"},
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="build/scenes/ckpt.pt")
    ap.add_argument("--out", default="models/scenes-tiny")
    a = ap.parse_args()
    c = Cfg()
    ck = torch.load(a.ckpt, map_location="cpu")
    m = SceneVLM(c)
    m.load_state_dict(ck["model"])
    m.eval()
    onnx_dir = os.path.join(a.out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    torch.manual_seed(0)
    with torch.no_grad():
        export(VisionExport(m), (torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE),),
               os.path.join(onnx_dir, "vision_encoder.onnx"), ["pixel_values"],
               ["image_features", "patch_features", "cls_attention", "patch_keys"],
               {"pixel_values": {0: "batch"}, "image_features": {0: "batch"},
                "patch_features": {0: "batch"}, "cls_attention": {0: "batch"},
                "patch_keys": {0: "batch"}})
        export(EmbedExport(m), (torch.tensor([[1, 4, 5]]),),
               os.path.join(onnx_dir, "embed_tokens.onnx"), ["input_ids"], ["inputs_embeds"],
               {"input_ids": {0: "batch", 1: "sequence"},
                "inputs_embeds": {0: "batch", 1: "sequence"}})
        # trace with a non-zero past length so shapes stay dynamic
        b, s, p = 1, 5, 3
        x = torch.randn(b, s, c.d_model)
        am = torch.ones(b, p + s, dtype=torch.int64)
        pos = torch.arange(p, p + s).unsqueeze(0)
        past = [torch.randn(b, c.n_kv_heads, p, c.head_dim) for _ in range(2 * c.n_layers)]
        names_past, names_present, axes = [], [], {
            "inputs_embeds": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "total_sequence"},
            "position_ids": {0: "batch", 1: "sequence"},
            "logits": {0: "batch", 1: "sequence"}}
        for i in range(c.n_layers):
            for kv in ("key", "value"):
                n = f"past_key_values.{i}.{kv}"
                names_past.append(n)
                axes[n] = {0: "batch", 2: "past_sequence"}
                n = f"present.{i}.{kv}"
                names_present.append(n)
                axes[n] = {0: "batch", 2: "total_sequence"}
        export(MergedExport(m), (x, am, pos, *past),
               os.path.join(onnx_dir, "decoder_model_merged.onnx"),
               ["inputs_embeds", "attention_mask", "position_ids"] + names_past,
               ["logits"] + names_present, axes)

    write_json(os.path.join(a.out, "config.json"), {
        "model_type": "vlmrun_scenes",
        "architectures": ["SceneVLM"],
        "image_token_id": IMAGE,
        "image_seq_len": N_IMAGE,
        "prompt": PROMPT_TEXT,
        "vision_config": {"image_size": IMAGE_SIZE, "patch_grid": GRID, "hidden_size": c.v_width,
                          "num_hidden_layers": c.v_layers, "num_attention_heads": c.v_heads,
                          "intermediate_size": c.v_mlp},
        "text_config": {"hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
                        "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
                        "head_dim": c.head_dim, "intermediate_size": c.d_ff,
                        "vocab_size": c.vocab, "rope_theta": c.rope_theta,
                        "rms_norm_eps": c.rms_eps, "max_position_embeddings": 256},
        "training": {k: ck[k] for k in ("step", "steps", "seed", "batch", "lr", "seconds", "params")},
    })
    write_json(os.path.join(a.out, "preprocessor_config.json"), {
        "do_resize": True, "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}, "resample": 3,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True})
    write_json(os.path.join(a.out, "tokenizer.json"), tokenizer_json())
    write_json(os.path.join(a.out, "tokenizer_config.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "image_token": "<image>", "add_bos_token": True, "model_max_length": 256,
        "tokenizer_class": "PreTrainedTokenizerFast"})
    write_json(os.path.join(a.out, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    write_json(os.path.join(a.out, "generation_config.json"), {
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "max_new_tokens": 48,
        "do_sample": False})
    print("exported to", a.out)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes a random-weight model folder with the real dimensions and the real
file layout of HuggingFaceTB/SmolVLM-256M-Instruct (fp32), for latency work:

  vision: SigLIP-B/16 at 512 px (768 wide, 12 layers, 12 heads, MLP 3072,
          1,024 patches), pixel shuffle ×4 → 64 tokens of 12,288 → 576
  text:   Llama, hidden 576, 30 layers, 9 query / 3 KV heads of 64,
          MLP 1536, vocab 49,280 (the real special-token ids)

Usage: scripts/twins/realistic.py [OUT_DIR]   (default: build/smolvlm-256m-random)

OUT_DIR is not committed (build/ is ignored). About 1.2 GB; a minute or two
and ~3 GB of memory to write. Needs python3-onnx and python3-numpy
(/usr/bin/python3 on Debian). vlmrun and transformers.js 4.3.1 both load
it. The tokenizer is a byte-level BPE with a few hundred learned pieces
padded to 49,152 base tokens, so prompts are a few tokens longer than with
SmolLM2's real tokenizer; every other shape is the real one. The decoder has
the real signature (no num_logits_to_keep); --logits-to-keep writes it with
the optional num_logits_to_keep and use_cache_branch inputs (the older
export form) and the same weights, to measure last-position-only logits
(scripts/compare-tjs.sh links the other files).
"""
import argparse
import json
import os
import sys

import numpy as np
from onnx import TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import decoder_lm  # noqa: E402
import smolvlm  # noqa: E402
import tokenizer_twin  # noqa: E402
from onnxb import Graph  # noqa: E402

TILE, PATCH, VDIM, VLAYERS, VHEADS, VMLP, SCALE = 512, 16, 768, 12, 12, 3072, 4
NPATCH = (TILE // PATCH) ** 2
SEQ_LEN = NPATCH // SCALE ** 2
TEXT = dict(hidden=576, layers=30, heads=9, kv_heads=3, head_dim=64, ffn=1536, vocab=49280)
BASE = 49152


def fast_weight(g, rng, shape, scale, fp16=False, hint="w"):
    """onnxb.weight drawn directly in float32 (half the memory)."""
    w = rng.standard_normal(shape, dtype=np.float32)
    w *= np.float32(scale)
    return g.const(w, hint)


def tokenizer():
    """SmolLM2's special-token ids: <|endoftext|> 0, <|im_start|> 1,
    <|im_end|> 2; <global-img> 49152, <row_r_col_c> 49153..49188,
    <fake_token_around_image> 49189, <image> 49190, 88 reserved,
    <end_of_utterance> 49279."""
    head = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    pre = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, bl]}
    tok, vocab = tokenizer_twin.build(head, [], 300, pre,
                                      {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                                       "use_regex": True},
                                      {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                                       "use_regex": True})
    v = tok["model"]["vocab"]
    i = 0
    while len(v) < BASE:
        v[f"filler{i}"] = len(v)
        i += 1
    tail = ["<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)] + [
        "<fake_token_around_image>", "<image>"] + [f"<reserved_{k}>" for k in range(88)] + ["<end_of_utterance>"]
    for t in tail:
        v[t] = len(v)
    assert len(v) == TEXT["vocab"] and v["<image>"] == 49190 and v["<end_of_utterance>"] == 49279
    specials = head + tail
    tok["added_tokens"] = [tokenizer_twin.added(v[t], t) for t in specials]
    return tok, v


def layer_norm(g, x, rng):
    return g.op("LayerNormalization", x, g.const(np.ones(VDIM, np.float32)),
                g.const((0.02 * rng.standard_normal(VDIM, dtype=np.float32))), axis=-1, epsilon=1e-6)


def gelu_tanh(g, x):
    c = float(np.sqrt(2 / np.pi))
    inner = g.op("Mul", g.op("Add", x, g.op("Mul", g.op("Mul", g.op("Mul", x, x), x), g.f32(0.044715))), g.f32(c))
    return g.op("Mul", g.op("Mul", x, g.f32(0.5)), g.op("Add", g.op("Tanh", inner), g.f32(1.0)))


def linear(g, rng, x, n_in, n_out, scale=1.0, bias=True):
    y = g.op("MatMul", x, fast_weight(g, rng, [n_in, n_out], scale / np.sqrt(n_in)))
    if bias:
        y = g.op("Add", y, g.const(0.02 * rng.standard_normal(n_out, dtype=np.float32)))
    return y


def vision(rng, hidden):
    """SigLIP-B/16 + Idefics3 connector (pixel shuffle ×4, linear)."""
    g = Graph("vision_encoder")
    pv = g.input("pixel_values", TensorProto.FLOAT, ["batch_size", "num_images", 3, TILE, TILE])
    pm = g.input("pixel_attention_mask", TensorProto.BOOL, ["batch_size", "num_images", TILE, TILE])
    x = g.op("Reshape", pv, g.i64(-1, 3, TILE, TILE))
    # patch embedding; the mask gates the patches as the real export's
    # patch_attention_mask does (all true for real images)
    x = g.op("Conv", x, fast_weight(g, rng, [VDIM, 3, PATCH, PATCH], 1.0 / np.sqrt(3 * PATCH * PATCH)),
             g.const(0.02 * rng.standard_normal(VDIM, dtype=np.float32)),
             kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    m = g.op("Reshape", g.op("Cast", pm, to=TensorProto.FLOAT), g.i64(-1, 1, TILE, TILE))
    m = g.op("MaxPool", m, kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    x = g.op("Mul", x, m)
    x = g.op("Transpose", g.op("Reshape", x, g.i64(0, VDIM, NPATCH)), perm=[0, 2, 1])  # [N, 1024, 768]
    x = g.op("Add", x, fast_weight(g, rng, [NPATCH, VDIM], 0.5))
    hd = VDIM // VHEADS
    for _ in range(VLAYERS):
        a = layer_norm(g, x, rng)

        def heads(t):
            return g.op("Transpose", g.op("Reshape", t, g.i64(0, NPATCH, VHEADS, hd)), perm=[0, 2, 1, 3])

        q = heads(linear(g, rng, a, VDIM, VDIM))
        k = heads(linear(g, rng, a, VDIM, VDIM))
        v = heads(linear(g, rng, a, VDIM, VDIM))
        s = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), g.f32(1 / np.sqrt(hd)))
        o = g.op("MatMul", g.op("Softmax", s, axis=-1), v)
        o = g.op("Reshape", g.op("Transpose", o, perm=[0, 2, 1, 3]), g.i64(0, NPATCH, VDIM))
        x = g.op("Add", x, linear(g, rng, o, VDIM, VDIM, 0.5))
        a = layer_norm(g, x, rng)
        x = g.op("Add", x, linear(g, rng, gelu_tanh(g, linear(g, rng, a, VDIM, VMLP)), VMLP, VDIM, 0.5))
    x = layer_norm(g, x, rng)
    # pixel shuffle: [N, 1024, 768] → [N, 768, 32, 32] → [N, 12288, 8, 8] → [N, 64, 12288]
    side = TILE // PATCH
    x = g.op("Reshape", g.op("Transpose", x, perm=[0, 2, 1]), g.i64(0, VDIM, side, side))
    x = g.op("SpaceToDepth", x, blocksize=SCALE)
    d = VDIM * SCALE * SCALE
    x = g.op("Transpose", g.op("Reshape", x, g.i64(0, d, SEQ_LEN)), perm=[0, 2, 1])
    x = g.op("MatMul", x, fast_weight(g, rng, [d, hidden], 2.0 / np.sqrt(d)), out="image_features")
    g.output(x, TensorProto.FLOAT, ["num_images", SEQ_LEN, hidden])
    return g.model()


def embed(table):
    g = Graph("embed_tokens")
    ids = g.input("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    g.op("Gather", g.const(table), ids, axis=0, out="inputs_embeds")
    g.output("inputs_embeds", TensorProto.FLOAT, ["batch_size", "sequence_length", TEXT["hidden"]])
    return g.model()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "..", "..", "build", "smolvlm-256m-random"))
    ap.add_argument("--seed", type=int, default=256)
    ap.add_argument("--logits-to-keep", action="store_true",
                    help="give the decoder the optional num_logits_to_keep (and use_cache_branch) inputs")
    ap.add_argument("--decoder-only", action="store_true",
                    help="write only onnx/decoder_model_merged.onnx (the same weights as a full run)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    rng = np.random.default_rng(a.seed)
    tok, vocab = tokenizer()
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    w = smolvlm.write_json
    proc, improc = "Idefics3Processor", "Idefics3ImageProcessor"
    w(os.path.join(out, "config.json"), {
        "architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "image_token_id": 49190,
        "scale_factor": SCALE, "pad_token_id": 128002, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "text_config": {
            "architectures": ["VLlama3ForCausalLM"], "model_type": "llama", "hidden_size": TEXT["hidden"],
            "intermediate_size": TEXT["ffn"], "num_attention_heads": TEXT["heads"],
            "num_key_value_heads": TEXT["kv_heads"], "head_dim": TEXT["head_dim"],
            "num_hidden_layers": TEXT["layers"], "vocab_size": TEXT["vocab"], "max_position_embeddings": 8192,
            "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "pad_token_id": 2, "bos_token_id": 1,
            "eos_token_id": 2},
        "vision_config": {
            "model_type": "idefics3", "hidden_size": VDIM, "image_size": TILE, "patch_size": PATCH,
            "num_attention_heads": VHEADS, "num_hidden_layers": VLAYERS, "intermediate_size": VMLP,
            "max_image_size": {"longest_edge": TILE}, "size": {"longest_edge": 2048}},
    })
    w(os.path.join(out, "generation_config.json"), {
        "bos_token_id": 0, "eos_token_id": 49279, "pad_token_id": 2, "transformers_version": "4.46.0"})
    w(os.path.join(out, "preprocessor_config.json"), {
        "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
        "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": improc, "max_image_size": {"longest_edge": TILE},
        "processor_class": proc, "resample": 1, "rescale_factor": 1 / 255, "size": {"longest_edge": 2048}})
    w(os.path.join(out, "processor_config.json"), {"image_seq_len": SEQ_LEN, "processor_class": proc})
    w(os.path.join(out, "tokenizer.json"), tok)
    w(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>",
        "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>", "model_max_length": 8192,
        "clean_up_tokenization_spaces": False, "tokenizer_class": "GPT2Tokenizer",
        "processor_class": proc, "chat_template": smolvlm.CHAT_TEMPLATE,
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]})

    def save(name, model):
        if a.decoder_only and name != "decoder_model_merged":
            return
        with open(os.path.join(out, "onnx", name + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())

    save("vision_encoder", vision(rng, TEXT["hidden"]))
    table = rng.standard_normal((TEXT["vocab"], TEXT["hidden"]), dtype=np.float32)
    save("embed_tokens", embed(table))
    del table
    # Structural tokens a random decoder must never emit; the fillers are
    # allowed (they decode to plain text).
    bias = np.zeros(TEXT["vocab"], dtype=np.float32)
    for t in tok["added_tokens"]:
        if t["content"] != "<end_of_utterance>":
            bias[t["id"]] = -1e4
    decoder_lm.weight = fast_weight
    save("decoder_model_merged", decoder_lm.build_decoder(rng, TEXT, bias, legacy=a.logits_to_keep))
    print(out)


if __name__ == "__main__":
    main()

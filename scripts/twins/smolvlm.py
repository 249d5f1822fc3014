"""SmolVLM / Idefics3 twin: the real folder layout, config keys, ONNX file
names and input/output names and dtypes (shared/reference/model-formats.md
§2 and §10), with tiny random weights.

Geometry: 32 px tiles (max_image_size), patch 4, pixel-shuffle scale 2, so
16 visual tokens per tile; text hidden 32, 2 layers, 4 query heads and 2 KV
heads of dim 8.
"""
import json
import os

import numpy as np
from onnx import TensorProto

import tokenizer_twin
from onnxb import Graph, weight
from decoder_lm import build_decoder

CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN = 32, 2, 4, 2, 8, 64
TILE, PATCH, VDIM, SCALE = 32, 4, 16, 2
SEQ_LEN = (TILE // PATCH) ** 2 // SCALE ** 2
ROPE_THETA, RMS_EPS = 100000.0, 1e-5


def tokenizer():
    head = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tail = ["<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)] + [
        "<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    pre = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, bl]}
    return tokenizer_twin.build(head, tail, 120, pre,
                                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True})


def vision(rng, fp16, hidden=HIDDEN):
    g = Graph("vision_encoder")
    pv = g.input("pixel_values", TensorProto.FLOAT, ["batch_size", "num_images", 3, TILE, TILE])
    pm = g.input("pixel_attention_mask", TensorProto.BOOL, ["batch_size", "num_images", TILE, TILE])
    x = g.op("Reshape", pv, g.i64(-1, 3, TILE, TILE))
    x = g.op("Conv", x, weight(g, rng, [VDIM, 3, PATCH, PATCH], 0.6, fp16), weight(g, rng, [VDIM], 0.1, fp16),
             kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    m = g.op("Reshape", g.op("Cast", pm, to=TensorProto.FLOAT), g.i64(-1, 1, TILE, TILE))
    m = g.op("AveragePool", m, kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    x = g.op("Tanh", g.op("Mul", x, m))
    x = g.op("SpaceToDepth", x, blocksize=SCALE)  # [N, VDIM*4, 4, 4]
    d = VDIM * SCALE * SCALE
    x = g.op("Transpose", g.op("Reshape", x, g.i64(0, d, SEQ_LEN)), perm=[0, 2, 1])
    x = g.op("Add", x, weight(g, rng, [SEQ_LEN, d], 0.5, fp16))
    x = g.op("MatMul", x, weight(g, rng, [d, hidden], 2.0 / np.sqrt(d), fp16), out="image_features")
    g.output(x, TensorProto.FLOAT, ["num_images", SEQ_LEN, hidden])
    return g.model()


def embed(table, fp16):  # hidden size: table.shape[1]
    g = Graph("embed_tokens")
    ids = g.input("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    t = g.const(table.astype(np.float16)) if fp16 else g.const(table)
    if fp16:
        t = g.op("Cast", t, to=TensorProto.FLOAT)
    g.op("Gather", t, ids, axis=0, out="inputs_embeds")
    g.output("inputs_embeds", TensorProto.FLOAT, ["batch_size", "sequence_length", table.shape[1]])
    return g.model()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def make(out, seed, model_type="idefics3", size_edge=64, legacy=False, dtypes=("fp32", "fp16"), text=None,
         decoder=None):
    """Writes a twin folder. legacy adds use_cache_branch and
    num_logits_to_keep to the decoder (the older optimum-style signature).
    text overrides the text dimensions (keys of dims below). decoder, if
    given, replaces the hand-built decoder: decoder(dims, bias, legacy)
    returns {file base name: ModelProto} written into onnx/ (smolvlm_torch)."""
    dims = dict(hidden=HIDDEN, layers=LAYERS, heads=HEADS, kv_heads=KV_HEADS, head_dim=HEAD_DIM, ffn=FFN)
    dims.update(text or {})
    rng = np.random.default_rng(seed)
    tok, vocab = tokenizer()
    V = len(vocab)
    img_id = vocab["<image>"]
    eou = vocab["<end_of_utterance>"]
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    proc = "SmolVLMProcessor" if model_type == "smolvlm" else "Idefics3Processor"
    improc = "SmolVLMImageProcessor" if model_type == "smolvlm" else "Idefics3ImageProcessor"
    arch = "SmolVLMForConditionalGeneration" if model_type == "smolvlm" else "Idefics3ForConditionalGeneration"
    write_json(os.path.join(out, "config.json"), {
        "architectures": [arch], "model_type": model_type, "image_token_id": img_id,
        "scale_factor": SCALE, "pad_token_id": vocab["<|im_end|>"], "tie_word_embeddings": False,
        "torch_dtype": "float32", "transformers_version": "4.46.0",
        "text_config": {
            "architectures": ["VLlama3ForCausalLM"], "model_type": "llama", "hidden_size": dims["hidden"],
            "intermediate_size": dims["ffn"], "num_attention_heads": dims["heads"],
            "num_key_value_heads": dims["kv_heads"], "head_dim": dims["head_dim"],
            "num_hidden_layers": dims["layers"], "vocab_size": V,
            "max_position_embeddings": 8192, "rope_theta": ROPE_THETA, "rms_norm_eps": RMS_EPS,
            "pad_token_id": vocab["<|im_end|>"], "bos_token_id": vocab["<|im_start|>"],
            "eos_token_id": vocab["<|endoftext|>"],
        },
        "vision_config": {
            "model_type": model_type + "_vision", "hidden_size": VDIM, "image_size": TILE,
            "patch_size": PATCH, "num_attention_heads": 2, "num_hidden_layers": 1,
            "max_image_size": {"longest_edge": TILE}, "size": {"longest_edge": size_edge},
        },
    })
    write_json(os.path.join(out, "generation_config.json"), {
        "bos_token_id": vocab["<|im_start|>"], "eos_token_id": eou, "pad_token_id": vocab["<|im_end|>"],
        "transformers_version": "4.46.0"})
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "do_convert_rgb": True, "do_image_splitting": True, "do_normalize": True, "do_pad": True,
        "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": improc, "max_image_size": {"longest_edge": TILE},
        "processor_class": proc, "resample": 1, "rescale_factor": 1 / 255,
        "size": {"longest_edge": size_edge}})
    write_json(os.path.join(out, "processor_config.json"), {"image_seq_len": SEQ_LEN, "processor_class": proc})
    write_json(os.path.join(out, "tokenizer.json"), tok)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>",
        "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>", "model_max_length": 8192,
        "clean_up_tokenization_spaces": False, "tokenizer_class": "GPT2Tokenizer",
        "processor_class": proc, "chat_template": CHAT_TEMPLATE,
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]})
    write_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>",
        "unk_token": "<|endoftext|>",
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]})

    # Structural tokens a random decoder must never emit (model-formats.md §10.2).
    bias = np.zeros(V, dtype=np.float32)
    for t in tok["added_tokens"]:
        if t["content"] != "<end_of_utterance>":
            bias[t["id"]] = -1e4
    table = rng.standard_normal((V, dims["hidden"])).astype(np.float32)
    state = rng.bit_generator.state
    for dt in dtypes:
        fp16 = dt == "fp16"
        sfx = "_fp16" if fp16 else ""
        rng.bit_generator.state = state  # the same weights in every dtype
        models = {
            "vision_encoder": vision(rng, fp16, dims["hidden"]),
            "embed_tokens": embed(table, fp16),
        }
        if decoder is None:
            models["decoder_model_merged"] = build_decoder(rng, dict(dims, vocab=V), bias, fp16=fp16, legacy=legacy)
        for name, m in models.items():
            with open(os.path.join(out, "onnx", f"{name}{sfx}.onnx"), "wb") as f:
                f.write(m.SerializeToString())
    if decoder is not None:
        for name, m in decoder(dict(dims, vocab=V, rope_theta=ROPE_THETA, rms_norm_eps=RMS_EPS), bias, legacy).items():
            with open(os.path.join(out, "onnx", f"{name}.onnx"), "wb") as f:
                f.write(m.SerializeToString())

"""Florence-2 twin (onnx-community/Florence-2-base-ft layout): four ONNX
files (vision_encoder, embed_tokens, encoder_model, decoder_model_merged),
the encoder-decoder cache names past_key_values.{i}.decoder/encoder.*, a
BART-style byte-level tokenizer and the task-prompt tables in
preprocessor_config.json (shared/reference/model-formats.md §3, §10).

Geometry: 32×32 images, 8 px patches, so 1 pooled + 16 visual tokens; d_model
32, 1 encoder and 2 decoder layers, 4 heads of 8.
"""
import json
import os

import numpy as np
from onnx import TensorProto, helper

import tokenizer_twin
from onnxb import Graph, weight
from decoder_lm import INT64_MAX

D, HEADS, HD, FFN, ENC_LAYERS, DEC_LAYERS, MAX_POS = 32, 4, 8, 64, 1, 2, 64
IMG, PATCH = 32, 8
NPATCH = (IMG // PATCH) ** 2

TASKS_WITHOUT = {
    "<OCR>": "What is the text in the image?", "<OCR_WITH_REGION>": "What is the text in the image, with regions?",
    "<CAPTION>": "What does the image describe?",
    "<DETAILED_CAPTION>": "Describe in detail what is shown in the image.",
    "<MORE_DETAILED_CAPTION>": "Describe with a paragraph what is shown in the image.",
    "<OD>": "Locate the objects with category name in the image.",
    "<DENSE_REGION_CAPTION>": "Locate the objects in the image, with their descriptions.",
    "<REGION_PROPOSAL>": "Locate the region proposals in the image.",
}
TASKS_WITH = {
    "<CAPTION_TO_PHRASE_GROUNDING>": "Locate the phrases in the caption: {input}",
    "<REFERRING_EXPRESSION_SEGMENTATION>": "Locate {input} in the image with mask",
    "<OPEN_VOCABULARY_DETECTION>": "Locate {input} in the image.",
}
POST = {"<CAPTION>": "pure_text", "<DETAILED_CAPTION>": "pure_text", "<MORE_DETAILED_CAPTION>": "pure_text",
        "<OD>": "description_with_bboxes", "<OCR>": "pure_text"}


def tokenizer():
    head = ["<s>", "<pad>", "</s>", "<unk>"]
    tail = [f"<loc_{i}>" for i in range(8)] + ["<od>", "</od>", "<cap>", "</cap>"]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    post = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
            "add_prefix_space": False}
    return tokenizer_twin.build(head, tail, 120, bl, post, bl)


def layer_norm(g, rng, x):
    return g.op("LayerNormalization", x, g.const(np.ones(D, np.float32)), g.const(np.zeros(D, np.float32)),
                axis=-1, epsilon=1e-5)


def heads(g, t):
    return g.op("Transpose", g.op("Reshape", t, g.i64(0, 0, HEADS, HD)), perm=[0, 2, 1, 3])


def attend(g, rng, q, k, v, bias):
    s = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), g.f32(1 / np.sqrt(HD)))
    p = g.op("Softmax", g.op("Add", s, bias), axis=-1)
    o = g.op("Reshape", g.op("Transpose", g.op("MatMul", p, v), perm=[0, 2, 1, 3]), g.i64(0, 0, -1))
    return g.op("MatMul", o, weight(g, rng, [D, D], 1 / np.sqrt(D)))


def proj(g, rng, x, scale=1.5):
    return g.op("MatMul", x, weight(g, rng, [D, D], scale / np.sqrt(D)))


def ffn(g, rng, x):
    h = g.op("Relu", g.op("MatMul", layer_norm(g, rng, x), weight(g, rng, [D, FFN], 1 / np.sqrt(D))))
    return g.op("Add", x, g.op("MatMul", h, weight(g, rng, [FFN, D], 1 / np.sqrt(FFN))))


def pad_bias(g, mask):
    """[B, S] int64 mask -> [B, 1, 1, S] additive bias."""
    m = g.op("Unsqueeze", g.op("Cast", mask, to=TensorProto.BOOL), g.i64(1, 2))
    return g.op("Where", m, g.f32(0.0), g.f32(-1e9))


def vision(rng):
    g = Graph("vision_encoder")
    pv = g.input("pixel_values", TensorProto.FLOAT, ["batch_size", 3, IMG, IMG])
    x = g.op("Conv", pv, weight(g, rng, [D, 3, PATCH, PATCH], 0.15), weight(g, rng, [D], 0.1),
             kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    x = g.op("Transpose", g.op("Reshape", g.op("Tanh", x), g.i64(0, D, NPATCH)), perm=[0, 2, 1])  # [B,16,D]
    x = g.op("Add", x, weight(g, rng, [NPATCH, D], 0.5))
    pooled = g.op("ReduceMean", x, axes=[1], keepdims=1)
    x = g.op("Concat", pooled, x, axis=1)
    g.op("MatMul", x, weight(g, rng, [D, D], 2.5 / np.sqrt(D)), out="image_features")
    g.output("image_features", TensorProto.FLOAT, ["batch_size", 1 + NPATCH, D])
    return g.model()


def embed(table):
    g = Graph("embed_tokens")
    ids = g.input("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    g.op("Gather", g.const(table), ids, axis=0, out="inputs_embeds")
    g.output("inputs_embeds", TensorProto.FLOAT, ["batch_size", "sequence_length", D])
    return g.model()


def encoder(rng):
    g = Graph("encoder_model")
    x = g.input("inputs_embeds", TensorProto.FLOAT, ["batch_size", "encoder_sequence_length", D])
    am = g.input("attention_mask", TensorProto.INT64, ["batch_size", "encoder_sequence_length"])
    bias = pad_bias(g, am)
    for _ in range(ENC_LAYERS):
        a = layer_norm(g, rng, x)
        x = g.op("Add", x, attend(g, rng, heads(g, proj(g, rng, a)), heads(g, proj(g, rng, a)),
                                  heads(g, proj(g, rng, a, 1.0)), bias))
        x = ffn(g, rng, x)
    g.op("Identity", layer_norm(g, rng, x), out="last_hidden_state")
    g.output("last_hidden_state", TensorProto.FLOAT, ["batch_size", "encoder_sequence_length", D])
    return g.model()


def decoder(rng, V, bias_vec):
    g = Graph("decoder_model_merged")
    x = g.input("inputs_embeds", TensorProto.FLOAT, ["batch_size", "decoder_sequence_length", D])
    ehs = g.input("encoder_hidden_states", TensorProto.FLOAT, ["batch_size", "encoder_sequence_length", D])
    eam = g.input("encoder_attention_mask", TensorProto.INT64, ["batch_size", "encoder_sequence_length"])
    pasts = []
    for i in range(DEC_LAYERS):
        names = {}
        for part, dim in (("decoder", "past_decoder_sequence_length"), ("encoder", "encoder_sequence_length_out")):
            for kv in ("key", "value"):
                n = f"past_key_values.{i}.{part}.{kv}"
                g.input(n, TensorProto.FLOAT, ["batch_size", HEADS, dim, HD])
                names[(part, kv)] = n
        pasts.append(names)
    ucb = g.input("use_cache_branch", TensorProto.BOOL, [1])
    ucb_s = g.op("Squeeze", ucb, g.i64(0))

    # learned positions from the past length (BART offset 2)
    one = g.const(np.array(1, dtype=np.int64))
    S = g.op("Gather", g.op("Shape", x), one, axis=0)
    past = g.op("Gather", g.op("Shape", pasts[0][("decoder", "key")]), g.const(np.array(2, dtype=np.int64)), axis=0)
    T = g.op("Add", past, S)
    pos = g.op("Add", g.op("Range", past, T, one), g.const(np.array(2, dtype=np.int64)))
    x = g.op("Add", x, g.op("Gather", weight(g, rng, [MAX_POS + 2, D], 0.5), pos, axis=0))
    qi = g.op("Unsqueeze", g.op("Range", past, T, one), g.i64(1))
    ki = g.op("Unsqueeze", g.op("Range", g.const(np.array(0, dtype=np.int64)), T, one), g.i64(0))
    self_bias = g.op("Where", g.op("LessOrEqual", ki, qi), g.f32(0.0), g.f32(-1e9))
    cross_bias = pad_bias(g, eam)
    h = x
    for i in range(DEC_LAYERS):
        p = pasts[i]
        a = layer_norm(g, rng, h)
        k = g.op("Concat", p[("decoder", "key")], heads(g, proj(g, rng, a)), axis=2)
        v = g.op("Concat", p[("decoder", "value")], heads(g, proj(g, rng, a, 1.0)), axis=2)
        g.op("Identity", k, out=f"present.{i}.decoder.key")
        g.op("Identity", v, out=f"present.{i}.decoder.value")
        q = heads(g, proj(g, rng, a))
        h = g.op("Add", h, attend(g, rng, q, k, v, self_bias))
        # cross attention: K/V from the encoder on the first step, the past afterwards
        a = layer_norm(g, rng, h)
        wk, wv = weight(g, rng, [D, D], 1.5 / np.sqrt(D)), weight(g, rng, [D, D], 1.0 / np.sqrt(D))
        outs = {}
        for kv, w in (("key", wk), ("value", wv)):
            ck = f"cross_{kv}_{i}"
            then_g = helper.make_graph([helper.make_node("Identity", [p[("encoder", kv)]], [ck + "_t"])],
                                       f"cache_{kv}_{i}", [], [helper.make_tensor_value_info(ck + "_t", TensorProto.FLOAT, None)])
            comp = heads(g, g.op("MatMul", ehs, w))
            else_g = helper.make_graph([helper.make_node("Identity", [comp], [ck + "_e"])],
                                       f"compute_{kv}_{i}", [], [helper.make_tensor_value_info(ck + "_e", TensorProto.FLOAT, None)])
            g.nodes.append(helper.make_node("If", [ucb_s], [f"present.{i}.encoder.{kv}"],
                                            then_branch=then_g, else_branch=else_g))
            outs[kv] = f"present.{i}.encoder.{kv}"
        h = g.op("Add", h, attend(g, rng, heads(g, proj(g, rng, a)), outs["key"], outs["value"], cross_bias))
        h = ffn(g, rng, h)
    h = layer_norm(g, rng, h)
    logits = g.op("Add", g.op("MatMul", h, weight(g, rng, [D, V], 3.0 / np.sqrt(D))), g.const(bias_vec))
    g.op("Identity", logits, out="logits")
    g.output("logits", TensorProto.FLOAT, ["batch_size", "decoder_sequence_length", V])
    for i in range(DEC_LAYERS):
        for part, dim in (("decoder", "past_decoder_sequence_length + decoder_sequence_length"),
                          ("encoder", "encoder_sequence_length_out")):
            for kv in ("key", "value"):
                g.output(f"present.{i}.{part}.{kv}", TensorProto.FLOAT, ["batch_size", HEADS, dim, HD])
    return g.model()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def make(out, seed):
    rng = np.random.default_rng(seed)
    tok, vocab = tokenizer()
    V = len(vocab)
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    text = {"model_type": "florence2_language", "d_model": D, "decoder_layers": DEC_LAYERS,
            "encoder_layers": ENC_LAYERS, "decoder_attention_heads": HEADS, "encoder_attention_heads": HEADS,
            "decoder_ffn_dim": FFN, "encoder_ffn_dim": FFN, "vocab_size": V, "max_position_embeddings": MAX_POS,
            "bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2,
            "forced_bos_token_id": 0, "forced_eos_token_id": 2, "no_repeat_ngram_size": 3, "num_beams": 3,
            "early_stopping": True, "is_encoder_decoder": True, "scale_embedding": False,
            "activation_function": "relu"}
    write_json(os.path.join(out, "config.json"), {
        "architectures": ["Florence2ForConditionalGeneration"], "model_type": "florence2",
        "is_encoder_decoder": True, "projection_dim": D, "vocab_size": V, "bos_token_id": 0, "eos_token_id": 2,
        "pad_token_id": 1, "torch_dtype": "float32", "transformers_version": "4.46.0", "text_config": text,
        "vision_config": {"model_type": "davit", "dim_embed": [D], "patch_size": [PATCH], "projection_dim": D}})
    write_json(os.path.join(out, "generation_config.json"), {
        "bos_token_id": 0, "decoder_start_token_id": 2, "early_stopping": True, "eos_token_id": 2,
        "forced_bos_token_id": 0, "forced_eos_token_id": 2, "no_repeat_ngram_size": 3, "num_beams": 3,
        "pad_token_id": 1, "transformers_version": "4.46.0"})
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": IMG, "width": IMG}, "do_center_crop": False, "do_convert_rgb": None,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_processor_type": "CLIPImageProcessor", "image_seq_length": 1 + NPATCH,
        "image_std": [0.229, 0.224, 0.225], "processor_class": "Florence2Processor", "resample": 3,
        "rescale_factor": 1 / 255, "size": {"height": IMG, "width": IMG},
        "tasks_answer_post_processing_type": POST, "task_prompts_without_inputs": TASKS_WITHOUT,
        "task_prompts_with_input": TASKS_WITH})
    write_json(os.path.join(out, "tokenizer.json"), tok)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
        "unk_token": "<unk>", "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<unk>",
        "model_max_length": 1024, "tokenizer_class": "BartTokenizer", "processor_class": "Florence2Processor",
        "clean_up_tokenization_spaces": False})
    write_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    bias = np.zeros(V, dtype=np.float32)
    bias[vocab["<pad>"]] = bias[vocab["<unk>"]] = -1e4
    table = rng.standard_normal((V, D)).astype(np.float32)
    for name, m in (("vision_encoder", vision(rng)), ("embed_tokens", embed(table)),
                    ("encoder_model", encoder(rng)), ("decoder_model_merged", decoder(rng, V, bias))):
        with open(os.path.join(out, "onnx", name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())

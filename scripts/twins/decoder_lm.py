"""A Llama-style merged decoder (decoder_model_merged) as optimum and
transformers.js export it: inputs_embeds, attention_mask, position_ids and
past_key_values.{i}.key/value in; logits and present.{i}.key/value out.

fp16 makes the cache float16 (and the logits float16) while inputs_embeds
stays float32, like Xenova's "wrap fp16 inputs" exports. New keys and
values are rounded to float16 before use, so cached and cache-free runs see
the same numbers. legacy adds the optional inputs use_cache_branch (bool [1])
and num_logits_to_keep (int64 scalar) of older optimum exports.
"""
import numpy as np
from onnx import TensorProto

from onnxb import weight

INT64_MAX = np.iinfo(np.int64).max


def rms_norm(g, x, eps=1e-5):
    ms = g.op("ReduceMean", g.op("Mul", x, x), axes=[-1], keepdims=1)
    return g.op("Div", x, g.op("Sqrt", g.op("Add", ms, g.f32(eps))))


def rope(g, x, cos, sin, half):
    a = g.op("Slice", x, g.i64(0), g.i64(half), g.i64(-1))
    b = g.op("Slice", x, g.i64(half), g.i64(INT64_MAX), g.i64(-1))
    rot = g.op("Concat", g.op("Neg", b), a, axis=-1)
    return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rot, sin))


def build_decoder(rng, d, bias, fp16=False, legacy=False, theta=100000.0):
    from onnxb import Graph
    H, L, nh, nkv, hd, F, V = d["hidden"], d["layers"], d["heads"], d["kv_heads"], d["head_dim"], d["ffn"], d["vocab"]
    kv_t = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    g = Graph("decoder_model_merged")
    x = g.input("inputs_embeds", TensorProto.FLOAT, ["batch_size", "sequence_length", H])
    am = g.input("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])
    pos = g.input("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    pasts = []
    for i in range(L):
        pk = g.input(f"past_key_values.{i}.key", kv_t, ["batch_size", nkv, "past_sequence_length", hd])
        pv = g.input(f"past_key_values.{i}.value", kv_t, ["batch_size", nkv, "past_sequence_length", hd])
        pasts.append((pk, pv))
    if legacy:
        ucb = g.input("use_cache_branch", TensorProto.BOOL, [1])
        nlk = g.input("num_logits_to_keep", TensorProto.INT64, [])

    # causal + padding mask, [B, 1, S, T]
    one = g.const(np.array(1, dtype=np.int64))
    T = g.op("Gather", g.op("Shape", am), one, axis=0)  # scalars
    S = g.op("Gather", g.op("Shape", x), one, axis=0)
    qi = g.op("Unsqueeze", g.op("Range", g.op("Sub", T, S), T, g.const(np.array(1, dtype=np.int64))), g.i64(1))
    ki = g.op("Unsqueeze", g.op("Range", g.const(np.array(0, dtype=np.int64)), T,
                                g.const(np.array(1, dtype=np.int64))), g.i64(0))
    causal = g.op("LessOrEqual", ki, qi)  # [S, T]
    pad = g.op("Unsqueeze", g.op("Cast", am, to=TensorProto.BOOL), g.i64(1, 2))  # [B,1,1,T]
    allowed = g.op("And", causal, pad)
    mask = g.op("Where", allowed, g.f32(0.0), g.f32(-1e9))

    # rotary tables [B, 1, S, hd]
    inv = (1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)).astype(np.float32)
    fr = g.op("Mul", g.op("Unsqueeze", g.op("Cast", pos, to=TensorProto.FLOAT), g.i64(-1)), g.const(inv))
    emb = g.op("Concat", fr, fr, axis=-1)
    cos = g.op("Unsqueeze", g.op("Cos", emb), g.i64(1))
    sin = g.op("Unsqueeze", g.op("Sin", emb), g.i64(1))

    def heads(t, n):
        return g.op("Transpose", g.op("Reshape", t, g.i64(0, 0, n, hd)), perm=[0, 2, 1, 3])

    def round16(t):
        return g.op("Cast", g.op("Cast", t, to=TensorProto.FLOAT16), to=TensorProto.FLOAT) if fp16 else t

    h = x
    for i in range(L):
        a = rms_norm(g, h)
        q = rope(g, heads(g.op("MatMul", a, weight(g, rng, [H, nh * hd], 1.5 / np.sqrt(H), fp16)), nh), cos, sin, hd // 2)
        k = rope(g, heads(g.op("MatMul", a, weight(g, rng, [H, nkv * hd], 1.5 / np.sqrt(H), fp16)), nkv), cos, sin, hd // 2)
        v = heads(g.op("MatMul", a, weight(g, rng, [H, nkv * hd], 1.0 / np.sqrt(H), fp16)), nkv)
        pk, pv = pasts[i]
        if fp16:
            pk, pv = g.op("Cast", pk, to=TensorProto.FLOAT), g.op("Cast", pv, to=TensorProto.FLOAT)
        k = g.op("Concat", pk, round16(k), axis=2)
        v = g.op("Concat", pv, round16(v), axis=2)
        if fp16:
            g.op("Cast", k, to=TensorProto.FLOAT16, out=f"present.{i}.key")
            g.op("Cast", v, to=TensorProto.FLOAT16, out=f"present.{i}.value")
        else:
            g.op("Identity", k, out=f"present.{i}.key")
            g.op("Identity", v, out=f"present.{i}.value")
        rep = nh // nkv

        def expand(t):
            t = g.op("Expand", g.op("Unsqueeze", t, g.i64(2)), g.i64(1, 1, rep, 1, 1))
            return g.op("Reshape", t, g.i64(0, nh, -1, hd))

        k, v = expand(k), expand(v)
        s = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), g.f32(1 / np.sqrt(hd)))
        p = g.op("Softmax", g.op("Add", s, mask), axis=-1)
        o = g.op("Reshape", g.op("Transpose", g.op("MatMul", p, v), perm=[0, 2, 1, 3]), g.i64(0, 0, -1))
        h = g.op("Add", h, g.op("MatMul", o, weight(g, rng, [nh * hd, H], 1.0 / np.sqrt(H), fp16)))
        a = rms_norm(g, h)
        gate = g.op("MatMul", a, weight(g, rng, [H, F], 1.0 / np.sqrt(H), fp16))
        up = g.op("MatMul", a, weight(g, rng, [H, F], 1.0 / np.sqrt(H), fp16))
        act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up)
        h = g.op("Add", h, g.op("MatMul", act, weight(g, rng, [F, H], 1.0 / np.sqrt(F), fp16)))
    h = rms_norm(g, h)
    if legacy:
        # num_logits_to_keep k > 0 keeps the last k positions; 0 keeps all.
        k = nlk
        start = g.op("Where", g.op("Greater", k, g.const(np.array(0, dtype=np.int64))),
                     g.op("Sub", S, k), g.const(np.array(0, dtype=np.int64)))
        h = g.op("Slice", h, g.op("Unsqueeze", start, g.i64(0)), g.i64(INT64_MAX), g.i64(1))
    logits = g.op("Add", g.op("MatMul", h, weight(g, rng, [H, V], 3.0 / np.sqrt(H), fp16)), g.const(bias))
    if legacy:
        # A wrong use_cache_branch (it must be true iff the past is not empty)
        # makes the output garbage, so the flag's handling is tested.
        past_len = g.op("Gather", g.op("Shape", pasts[0][0]), g.const(np.array(2, dtype=np.int64)), axis=0)
        want = g.op("Greater", past_len, g.const(np.array([0], dtype=np.int64)))
        wrong = g.op("Cast", g.op("Xor", want, ucb), to=TensorProto.FLOAT)
        logits = g.op("Add", logits, g.op("Mul", wrong, g.f32(50.0)))
    if fp16:
        g.op("Cast", logits, to=TensorProto.FLOAT16, out="logits")
    else:
        g.op("Identity", logits, out="logits")
    g.output("logits", TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT, ["batch_size", "sequence_length", V])
    for i in range(L):
        for kv in ("key", "value"):
            g.output(f"present.{i}.{kv}", kv_t, ["batch_size", nkv, "total_sequence_length", hd])
    return g.model()

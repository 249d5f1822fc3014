"""A tiny Llama decoder written as transformers' module tree, exported with
torch.onnx.export (the TorchScript exporter) to the transformers.js decoder
contract, so that the ONNX graph looks inside like a real optimum /
onnx-community export (scoped node names such as
/model/layers.0/self_attn/Softmax, anonymous onnx::MatMul_N weights, nodes
shared across layers by the exporter).

Module names are exactly transformers' LlamaForCausalLM:
model.layers.N.self_attn.{q,k,v,o}_proj, model.layers.N.mlp.{gate,up,down}_proj,
model.layers.N.{input,post_attention}_layernorm, model.norm, model.rotary_emb,
lm_head. Eager attention (matmul, additive mask, float32 softmax), RMSNorm in
float32, rotary embeddings with the half-split convention, grouped-query
attention with repeat_kv, and the causal + padding mask built once at the
model level from attention_mask and the past length (as transformers does).

lm_head has a bias: it holds the twin's logit bias that bans the image
structure tokens (model-formats.md §10.2); real Llama heads have none.

Needs Debian's python3-torch (1.13) and python3-onnx: run with /usr/bin/python3.
"""
import io

import numpy as np
import torch
from torch import nn

import onnx


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids):
        inv_freq_expanded = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype=x.dtype), emb.sin().to(dtype=x.dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.head_dim = c["head_dim"]
        self.num_key_value_groups = c["num_attention_heads"] // c["num_key_value_heads"]
        self.scaling = self.head_dim ** -0.5
        h = c["hidden_size"]
        self.q_proj = nn.Linear(h, c["num_attention_heads"] * self.head_dim, bias=False)
        self.k_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, c["num_key_value_heads"] * self.head_dim, bias=False)
        self.o_proj = nn.Linear(c["num_attention_heads"] * self.head_dim, h, bias=False)

    def forward(self, hidden_states, position_embeddings, attention_mask, past_key_value):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
        if past_key_value is not None:  # DynamicCache.update
            key_states = torch.cat([past_key_value[0], key_states], dim=-2)
            value_states = torch.cat([past_key_value[1], value_states], dim=-2)
        present = (key_states, value_states)

        # eager_attention_forward
        key_states = repeat_kv(key_states, self.num_key_value_groups)
        value_states = repeat_kv(value_states, self.num_key_value_groups)
        attn_weights = torch.matmul(query_states, key_states.transpose(2, 3)) * self.scaling
        causal_mask = attention_mask[:, :, :, : key_states.shape[-2]]
        attn_weights = attn_weights + causal_mask
        # transformers: softmax(attn_weights, dim=-1, dtype=torch.float32). torch
        # 1.13 exports that as a Softmax in the input's dtype followed by a
        # Cast, so the upcast is written out to keep the Softmax in float32.
        attn_weights = nn.functional.softmax(attn_weights.to(torch.float32), dim=-1).to(query_states.dtype)
        attn_output = torch.matmul(attn_weights, value_states)
        attn_output = attn_output.transpose(1, 2).contiguous()
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), present


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.up_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = LlamaAttention(c)
        self.mlp = LlamaMLP(c)
        self.input_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, hidden_states, attention_mask, position_embeddings, past_key_value):
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states, present = self.self_attn(hidden_states, position_embeddings, attention_mask, past_key_value)
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        hidden_states = residual + hidden_states
        return hidden_states, present


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([LlamaDecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.rotary_emb = LlamaRotaryEmbedding(c["head_dim"], c["rope_theta"])
        # The dtype whose minimum fills the mask (float16 for the fp16 export,
        # which is traced in bfloat16; see export()).
        self.mask_dtype = torch.float32

    def causal_mask(self, attention_mask, inputs_embeds, past_key_values):
        """transformers' _prepare_4d_causal_attention_mask_with_cache_position:
        [batch, 1, seq, target], 0 where allowed and the dtype's minimum
        elsewhere. The past length comes from past_key_values.0.key."""
        dtype = inputs_embeds.dtype
        min_dtype = torch.finfo(self.mask_dtype).min
        past_seen_tokens = past_key_values[0][0].shape[2] if past_key_values is not None else 0
        sequence_length = inputs_embeds.shape[1]
        cache_position = torch.arange(past_seen_tokens, past_seen_tokens + sequence_length)
        target_length = attention_mask.shape[-1]
        causal_mask = torch.full((sequence_length, target_length), fill_value=min_dtype, dtype=dtype)
        causal_mask = causal_mask.masked_fill(torch.arange(target_length) <= cache_position.reshape(-1, 1), 0)
        causal_mask = causal_mask[None, None, :, :].expand(inputs_embeds.shape[0], 1, -1, -1)
        padding_mask = attention_mask[:, None, None, :] == 0
        return causal_mask.masked_fill(padding_mask, min_dtype)

    def forward(self, inputs_embeds, attention_mask, position_ids, past_key_values):
        hidden_states = inputs_embeds
        mask = self.causal_mask(attention_mask, inputs_embeds, past_key_values)
        position_embeddings = self.rotary_emb(hidden_states, position_ids)
        presents = []
        for i, layer in enumerate(self.layers):
            past = past_key_values[i] if past_key_values is not None else None
            hidden_states, present = layer(hidden_states, mask, position_embeddings, past)
            presents.append(present)
        return self.norm(hidden_states), presents


class LlamaForCausalLM(nn.Module):
    """forward takes the flat ONNX inputs: inputs_embeds, attention_mask,
    position_ids, then past_key_values.{i}.key/value when with_past, then
    num_logits_to_keep when logits_to_keep."""

    def __init__(self, c, with_past=True, logits_to_keep=False):
        super().__init__()
        self.config = c
        self.model = LlamaModel(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=True)
        self.with_past = with_past
        self.logits_to_keep = logits_to_keep

    def forward(self, inputs_embeds, attention_mask, position_ids, *rest):
        rest = list(rest)
        past = None
        if self.with_past:
            n = self.config["num_hidden_layers"]
            flat, rest = rest[:2 * n], rest[2 * n:]
            past = [(flat[2 * i], flat[2 * i + 1]) for i in range(n)]
        # transformers.js feeds float32 inputs_embeds to fp16 files too.
        inputs_embeds = inputs_embeds.to(self.lm_head.weight.dtype)
        hidden_states, presents = self.model(inputs_embeds, attention_mask, position_ids, past)
        if self.logits_to_keep:
            # hidden_states[:, -num_logits_to_keep:, :], where 0 keeps all.
            k = rest[0]
            seq = hidden_states.shape[1]
            start = torch.where(k > 0, seq - k, torch.zeros_like(k))
            hidden_states = hidden_states.index_select(1, torch.arange(start, seq))
        logits = self.lm_head(hidden_states).float()
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


def init_weights(model, rng, scales):
    """Deterministic weights from a numpy Generator, in named_parameters
    order. scales maps a parameter-name suffix to the standard deviation
    times sqrt(fan_in); norms are 1 + 0.1·N(0, 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                w = 1.0 + 0.1 * rng.standard_normal(tuple(p.shape))
            elif name == "lm_head.bias":
                continue  # set by the caller
            else:
                suffix = name.split(".")[-2]
                w = rng.standard_normal(tuple(p.shape)) * scales[suffix] / np.sqrt(p.shape[1])
            p.copy_(torch.from_numpy(w.astype(np.float32)))


def export(model, half=False):
    """Exports the model with torch.onnx.export (TorchScript exporter,
    opset 14) and returns the onnx.ModelProto.

    half: a float16 export (weights, KV cache, the residual stream; norms,
    softmax and rotary tables in float32 as transformers computes them;
    inputs_embeds and logits float32). torch 1.13 has no float16 matmul on
    the CPU, so the model is traced in bfloat16 and every bfloat16 type and
    constant of the exported graph is then rewritten to float16 (the
    weights are bfloat16 values, exactly representable in float16)."""
    c = model.config
    n = c["num_hidden_layers"]
    kvh, hd, hidden = c["num_key_value_heads"], c["head_dim"], c["hidden_size"]
    dt = torch.bfloat16 if half else torch.float32
    if half:
        model = model.to(torch.bfloat16)
        model.model.rotary_emb.inv_freq = model.model.rotary_emb.inv_freq.float()
        model.model.mask_dtype = torch.float16
    model.eval()
    b, s, past = 1, 3, 2
    args = [torch.zeros(b, s, hidden), torch.ones(b, past + s if model.with_past else s, dtype=torch.int64),
            torch.arange(past, past + s).unsqueeze(0)]
    names = ["inputs_embeds", "attention_mask", "position_ids"]
    total = "past_sequence_length + sequence_length" if model.with_past else "sequence_length"
    axes = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: total},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    if model.with_past:
        for i in range(n):
            for kv in ("key", "value"):
                args.append(torch.zeros(b, kvh, past, hd, dtype=dt))
                names.append(f"past_key_values.{i}.{kv}")
                axes[names[-1]] = {0: "batch_size", 2: "past_sequence_length"}
    if model.logits_to_keep:
        args.append(torch.tensor(1, dtype=torch.int64))
        names.append("num_logits_to_keep")
    outs = ["logits"]
    for i in range(n):
        for kv in ("key", "value"):
            outs.append(f"present.{i}.{kv}")
            axes[outs[-1]] = {0: "batch_size", 2: total}
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, tuple(args), f, input_names=names, output_names=outs, dynamic_axes=axes,
                          opset_version=14, do_constant_folding=True)
    m = onnx.load_from_string(f.getvalue())
    for o in m.graph.output:  # without a past, the exporter leaves the head dims symbolic
        if o.name.startswith("present."):
            dims = o.type.tensor_type.shape.dim
            dims[1].dim_value, dims[3].dim_value = kvh, hd
    if half:
        bf16_to_fp16(m.graph)
    return m


# --- bfloat16 → float16 -----------------------------------------------------

BF16, FP16 = onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16


def _bf16_tensor_to_fp16(t):
    if t.raw_data:
        u = np.frombuffer(t.raw_data, dtype=np.uint16)
    else:
        u = np.array(t.int32_data, dtype=np.uint16)
    f = (u.astype(np.uint32) << 16).view(np.float32)
    h = np.clip(f, -65504, 65504).astype(np.float16)  # the mask minimum -65536 → -65504
    t.data_type = FP16
    del t.int32_data[:]
    t.raw_data = h.tobytes()


def bf16_to_fp16(g):
    for t in g.initializer:
        if t.data_type == BF16:
            _bf16_tensor_to_fp16(t)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == BF16:
            vi.type.tensor_type.elem_type = FP16
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == BF16:
                _bf16_tensor_to_fp16(a.t)
            elif a.type == onnx.AttributeProto.GRAPH:
                bf16_to_fp16(a.g)
            elif node.op_type == "Cast" and a.name == "to" and a.i == BF16:
                a.i = FP16

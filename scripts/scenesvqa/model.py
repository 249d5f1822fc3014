"""The scenes-vqa VLM: conv-stem ViT encoder, MLP projector, Llama-style decoder.

Decoder modules are named as in transformers' Llama (model.layers.N.self_attn.q_proj,
model.layers.N.mlp.gate_proj, input_layernorm, post_attention_layernorm, model.norm,
lm_head) and attention is written out eagerly (one Softmax per layer), so that the
exported merged decoder can be split into per-layer graphs by name.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import VOCAB, SHAPES, COLOUR_NAMES, SIZE_NAMES, CELL_NAMES, CELLS_PER_SIDE

NEG = -1e9


class Cfg:
    image_size = 96
    grid = 8
    v_width = 128
    v_layers = 3
    v_heads = 4
    v_mlp = 256
    d_model = 128
    n_layers = 4
    n_heads = 4
    n_kv_heads = 2
    head_dim = 32
    d_ff = 384
    vocab = 77
    rope_theta = 1000000.0
    rms_eps = 1e-5


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.GELU())


class VitBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln1 = nn.LayerNorm(c.v_width)
        self.qkv = nn.Linear(c.v_width, 3 * c.v_width)
        self.proj = nn.Linear(c.v_width, c.v_width)
        self.ln2 = nn.LayerNorm(c.v_width)
        self.fc1 = nn.Linear(c.v_width, c.v_mlp)
        self.fc2 = nn.Linear(c.v_mlp, c.v_width)
        self.h = c.v_heads

    def forward(self, x):
        b, n, w = x.shape
        hd = w // self.h
        q, k, v = self.qkv(self.ln1(x)).split(w, dim=-1)
        q = q.view(b, n, self.h, hd).transpose(1, 2)
        k = k.view(b, n, self.h, hd).transpose(1, 2)
        v = v.view(b, n, self.h, hd).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, w)
        x = x + self.proj(y)
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return x, att, k.transpose(1, 2).reshape(b, n, w)


class Vision(nn.Module):
    """pixel_values (B,3,96,96) -> patch features (B,64,W), CLS, CLS attention, keys."""

    def __init__(self, c):
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn(3, 24, 2), conv_bn(24, 32, 1),       # 48 px
            conv_bn(32, 64, 2), conv_bn(64, 96, 1),      # 24 px
            conv_bn(96, 128, 3),                         # 8 px: one token per 12 px patch
            conv_bn(128, 128, 1),
            nn.Conv2d(128, c.v_width, 1))
        self.cls = nn.Parameter(torch.zeros(1, 1, c.v_width))
        self.pos = nn.Parameter(torch.randn(1, 1 + c.grid * c.grid, c.v_width) * 0.02)
        self.blocks = nn.ModuleList([VitBlock(c) for _ in range(c.v_layers)])
        self.ln = nn.LayerNorm(c.v_width)

    def forward(self, px):
        x = self.stem(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for blk in self.blocks:
            x, att, keys = blk(x)
        x = self.ln(x)
        cls_att = att[:, :, 0, 1:].mean(1)
        return x[:, 1:], x[:, 0], cls_att, keys[:, 1:]


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, pos, theta):
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = pos.to(torch.float32)[:, None, :, None] * inv[None, None, None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    cos = torch.cat([cos, cos], -1)
    sin = torch.cat([sin, sin], -1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    rot = torch.cat([-x2, x1], -1)
    return x * cos + rot * sin


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.d_model, c.n_heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.n_heads * c.head_dim, c.d_model, bias=False)
        self.keep_att = False
        self.last_att = None

    def forward(self, h, add_mask, pos, past_k=None, past_v=None):
        c = self.c
        b, s, _ = h.shape
        q = self.q_proj(h).view(b, s, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, s, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, s, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q = rope(q, pos, c.rope_theta)
        k = rope(k, pos, c.rope_theta)
        if past_k is not None:
            k = torch.cat([past_k, k], 2)
            v = torch.cat([past_v, v], 2)
        rep = c.n_heads // c.n_kv_heads
        t = k.shape[2]
        kk = k[:, :, None].expand(b, c.n_kv_heads, rep, t, c.head_dim).reshape(b, c.n_heads, t, c.head_dim)
        vv = v[:, :, None].expand(b, c.n_kv_heads, rep, t, c.head_dim).reshape(b, c.n_heads, t, c.head_dim)
        scores = q @ kk.transpose(-1, -2) / math.sqrt(c.head_dim) + add_mask
        att = torch.softmax(scores, -1)
        if self.keep_att:  # training only: attention supervision reads it
            self.last_att = att
        y = (att @ vv).transpose(1, 2).reshape(b, s, c.n_heads * c.head_dim)
        return self.o_proj(y), k, v


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.up_proj = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.down_proj = nn.Linear(c.d_ff, c.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.d_model, c.rms_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.d_model, c.rms_eps)
        self.mlp = MLP(c)

    def forward(self, x, add_mask, pos, past_k=None, past_v=None):
        a, k, v = self.self_attn(self.input_layernorm(x), add_mask, pos, past_k, past_v)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, k, v


def additive_mask(attention_mask, s):
    """Causal by sequence index (position ids may be gapped); -1e9 where masked."""
    t = attention_mask.shape[1]
    qi = torch.arange(s, dtype=torch.int64)[:, None] + (t - s)
    kj = torch.arange(t, dtype=torch.int64)[None, :]
    causal = (kj <= qi)[None, None]
    keep = causal & (attention_mask[:, None, None, :] > 0)
    zero = torch.zeros((), dtype=torch.float32)
    neg = torch.full((), NEG, dtype=torch.float32)
    return torch.where(keep, zero, neg)


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab, c.d_model)
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c.n_layers)])
        self.norm = RMSNorm(c.d_model, c.rms_eps)

    def forward(self, inputs_embeds, attention_mask, position_ids, past=None):
        """Returns the final-normed hidden states and the present keys/values."""
        mask = additive_mask(attention_mask, inputs_embeds.shape[1])
        x = inputs_embeds
        present = []
        for i, layer in enumerate(self.layers):
            pk, pv = (past[2 * i], past[2 * i + 1]) if past is not None else (None, None)
            x, k, v = layer(x, mask, position_ids, pk, pv)
            present += [k, v]
        return self.norm(x), present


class SceneVQA(nn.Module):
    def __init__(self, c=Cfg()):
        super().__init__()
        self.c = c
        self.vision = Vision(c)
        # the projector states each token's content in the decoder's own words: the
        # attribute head's probabilities (shape / colour / size of the object covering
        # the token, or none) weight the embeddings of the words "circle", "red",
        # "large", ...; the token's grid cell adds the embedding of its cell name
        # ("b3") plus a learned within-cell offset; whether the token holds an object's
        # centre adds one learned vector; a small linear path carries the rest. A kept
        # token thus says what and where it is, also when pruning renumbers positions.
        self.attr_head = nn.Linear(c.v_width, 5 + 7 + 3 + 1)
        self.proj = nn.Linear(c.v_width, c.d_model, bias=False)
        with torch.no_grad():
            self.proj.weight.mul_(0.1)
        self.img_pos = nn.Parameter(torch.randn(1, c.grid * c.grid, c.d_model) * 0.1)
        self.centre = nn.Parameter(torch.randn(c.d_model) * 0.5)
        self.model = LlamaModel(c)
        self.lm_head = nn.Linear(c.d_model, c.vocab, bias=False)
        self.register_buffer("shape_ids", torch.tensor([VOCAB[w] for w in SHAPES]), persistent=False)
        self.register_buffer("colour_ids", torch.tensor([VOCAB[w] for w in COLOUR_NAMES]), persistent=False)
        self.register_buffer("size_ids", torch.tensor([VOCAB[w] for w in SIZE_NAMES]), persistent=False)
        per = c.grid // CELLS_PER_SIDE
        cells = [CELL_NAMES[(t // c.grid // per) * CELLS_PER_SIDE + (t % c.grid) // per]
                 for t in range(c.grid * c.grid)]
        self.register_buffer("cell_ids", torch.tensor([VOCAB[w] for w in cells]), persistent=False)

    def attributes(self, patches):
        """Per-token attribute logits (B,64,16): shape 0-4, colour 5-11, size 12-14 (index
        0 of each group = no object), centre 15."""
        return self.attr_head(patches)

    def project(self, patches):
        """Vision patches (B,64,W) -> the decoder's visual tokens (B,64,D)."""
        E = self.model.embed_tokens.weight
        a = self.attributes(patches)
        ps = torch.softmax(a[..., 0:5], -1)[..., 1:]
        pc = torch.softmax(a[..., 5:12], -1)[..., 1:]
        pz = torch.softmax(a[..., 12:15], -1)[..., 1:]
        words = ps @ E[self.shape_ids] + pc @ E[self.colour_ids] + pz @ E[self.size_ids]
        ctr = torch.sigmoid(a[..., 15:16]) * self.centre
        return words + ctr + E[self.cell_ids] + self.img_pos + self.proj(patches)

    def decode(self, x, attention_mask, pos):
        h, _ = self.model(x, attention_mask, pos)
        return self.lm_head(h)

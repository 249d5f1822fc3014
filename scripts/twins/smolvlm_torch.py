"""SmolVLM twins whose decoder is exported by torch.onnx.export from a
Llama module tree named like transformers' (torch_llama.py), so that the
graphs look inside like real optimum / onnx-community exports; the vision
encoder, embed_tokens, tokenizer and configs come from smolvlm.py.

- smolvlm-twin-torch (idefics3, 64 px longest edge, split into 32 px tiles):
  decoder_model_merged.onnx (fp32, the modern merged form without If),
  decoder_model_merged_fp16.onnx (float16 weights and KV cache, float32
  inputs_embeds and logits, norms/softmax/rotary tables in float32),
  decoder_model_merged_quantized.onnx (q8: MatMulInteger, ORT dynamic
  quantization pattern) and decoder_model_merged_q4.onnx (com.microsoft
  MatMulNBits, 4 bits, block 32); embed_tokens and vision_encoder in fp32
  only (use per-file dtypes, e.g. fp32,decoder_model_merged=q8).
- smolvlm-twin-torch-legacy (smolvlm, 32 px, never split): the optimum
  legacy merge (If on use_cache_branch, with-past and without-past branches,
  shared initializers) with num_logits_to_keep.

Text model: hidden 64, 4 layers, 4 query heads and 2 KV heads of 16,
intermediate 128, vocabulary 360. Deterministic (numpy-seeded weights).
Needs Debian's python3-torch (1.13) and python3-onnx: /usr/bin/python3.
"""
import numpy as np
import torch

import onnx_rewrite
import smolvlm
import torch_llama

TEXT = dict(hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, ffn=96)
# weight standard deviation × sqrt(fan_in), per Linear
SCALES = {"q_proj": 2.0, "k_proj": 2.0, "v_proj": 1.0, "o_proj": 1.0, "gate_proj": 1.0, "up_proj": 1.0,
          "down_proj": 1.0, "lm_head": 3.0}


def decoders(seed):
    def build(d, bias, legacy):
        c = {"hidden_size": d["hidden"], "intermediate_size": d["ffn"], "num_attention_heads": d["heads"],
             "num_key_value_heads": d["kv_heads"], "head_dim": d["head_dim"], "num_hidden_layers": d["layers"],
             "vocab_size": d["vocab"], "rope_theta": d["rope_theta"], "rms_norm_eps": d["rms_norm_eps"]}

        def model(with_past=True, keep=False):
            torch.manual_seed(seed)
            m = torch_llama.LlamaForCausalLM(c, with_past=with_past, logits_to_keep=keep)
            torch_llama.init_weights(m, np.random.default_rng(seed), SCALES)
            with torch.no_grad():
                m.lm_head.bias.copy_(torch.from_numpy(bias))
            return m

        if legacy:
            return {"decoder_model_merged": onnx_rewrite.merge_legacy(
                torch_llama.export(model(True, True)), torch_llama.export(model(False, True)))}
        fp32 = torch_llama.export(model())
        return {
            "decoder_model_merged": fp32,
            "decoder_model_merged_fp16": torch_llama.export(model(), half=True),
            "decoder_model_merged_quantized": onnx_rewrite.quantize_q8(fp32),
            "decoder_model_merged_q4": onnx_rewrite.quantize_q4(fp32),
        }
    return build


def make(out, seed, legacy=False):
    if legacy:
        smolvlm.make(out, seed, model_type="smolvlm", size_edge=32, legacy=True, dtypes=("fp32",), text=TEXT,
                     decoder=decoders(seed + 1000))
    else:
        smolvlm.make(out, seed, dtypes=("fp32",), text=TEXT, decoder=decoders(seed + 1000))

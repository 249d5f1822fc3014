#!/usr/bin/python3
"""Writes the fp16, q8 and q4 variants of every ONNX file of a realistic-size
SmolVLM folder (scripts/twins/realistic.py) next to the fp32 files, with the
suffixes transformers.js and onnx-community use:

  onnx/{base}_fp16.onnx       float16 weights and GEMMs, float16 KV cache
                              (onnx_rewrite.half_matmuls)
  onnx/{base}_quantized.onnx  q8: dynamic int8 MatMulInteger with
                              DynamicQuantizeLinear (onnx_rewrite.quantize_q8);
                              embed_tokens: int8 table + DequantizeLinear
  onnx/{base}_q4.onnx         q4: MatMulNBits, 4 bits, block 32
                              (onnx_rewrite.quantize_q4); embed_tokens has no
                              MatMul, so its q4 file is the fp32 graph (ORT's
                              4-bit MatMul quantizer leaves Gather alone too)

The vision encoder's patch Conv and the activation-by-activation attention
MatMuls stay float32 in q8 and q4 (only MatMuls with a constant 2-D weight are
quantized), as in ORT's dynamic MatMul quantization.

Usage: scripts/twins/realistic_dtypes.py [DIR] [--dtypes fp16,q8,q4]
(default DIR build/smolvlm-256m-random; the fp32 files must exist). About a
minute per dtype; ~3 GB of memory.
"""
import argparse
import os
import sys

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx_rewrite  # noqa: E402

BASES = ("vision_encoder", "embed_tokens", "decoder_model_merged")
SUFFIX = {"fp16": "_fp16", "q8": "_quantized", "q4": "_q4"}


def name_nodes(model):
    """Gives every unnamed node a unique name (the rewrites derive the new
    nodes' names from the old ones)."""
    for i, n in enumerate(model.graph.node):
        if not n.name:
            n.name = f"{n.op_type}_{i}"


def variant(base, dtype, model):
    if dtype == "fp16":
        return onnx_rewrite.half_matmuls(model)
    if dtype == "q8":
        if base == "embed_tokens":
            return onnx_rewrite.quantize_gather_q8(model)
        return onnx_rewrite.quantize_q8(model)
    if dtype == "q4":
        return onnx_rewrite.quantize_q4(model)
    raise ValueError(f"unknown dtype {dtype}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "..", "..", "build", "smolvlm-256m-random"))
    ap.add_argument("--dtypes", default="fp16,q8,q4")
    a = ap.parse_args()
    dtypes = [d for d in a.dtypes.split(",") if d]
    for d in dtypes:
        if d not in SUFFIX:
            sys.exit(f"realistic_dtypes: unknown dtype {d} (want fp16, q8 or q4)")
    onnx_dir = os.path.join(os.path.abspath(a.dir), "onnx")
    for base in BASES:
        src = os.path.join(onnx_dir, base + ".onnx")
        if not os.path.exists(src):
            sys.exit(f"realistic_dtypes: {src} is missing (run scripts/twins/realistic.py first)")
        model = onnx.load(src)
        name_nodes(model)
        for d in dtypes:
            out = variant(base, d, model)
            dst = os.path.join(onnx_dir, base + SUFFIX[d] + ".onnx")
            with open(dst + ".tmp", "wb") as f:
                f.write(out.SerializeToString())
            os.replace(dst + ".tmp", dst)
            print(f"{dst}: {os.path.getsize(dst) / 1e6:.1f} MB", flush=True)
        del model


if __name__ == "__main__":
    main()

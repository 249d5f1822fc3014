"""Rewrites of exported decoder graphs into the variants onnx-community
ships, with the onnx Python package only (onnxruntime's Python quantizer
and optimum are not needed):

- quantize_q8: `_quantized` files, ORT dynamic quantization (IntegerOps) of
  every MatMul whose B is a 2-D float initializer: DynamicQuantizeLinear on
  the activation (one per activation tensor, shared by the MatMuls reading
  it), MatMulInteger with an int8 per-column (axis 1) symmetric weight and
  reduce_range (-64..64) plus its zero point, Cast to float, Mul by the
  product of the two scales (names as ORT's MatMulInteger quantizer gives
  them: X_QuantizeLinear, W_quantized/_scale/_zero_point, N_quant,
  N_quant_scales_mul, N_quant_output_scale_mul).
- quantize_q4: `_q4` files, ORT's MatMul4BitsQuantizer (symmetric, block
  32): com.microsoft MatMulNBits(A, B uint8 [N, n_blocks, 16], scales
  [N·n_blocks]) with no zero points (the default 8).
- half_matmuls: `_fp16` files as this project writes them: float16 weights
  and float16 GEMMs (Cast the activation to float16, MatMul against the
  float16 weight, Cast the product back), every other float initializer of
  more than 16 values stored as float16 behind a Cast, norms, softmax and
  element-wise ops in float32, graph inputs and outputs float32 except the
  KV cache (past_key_values.* / present.* float16). onnx-community's fp16
  exports compute nearly everything in float16; ORT 1.24.3 failed to open an
  all-float16 decoder of this kind (shared/reference), so the GEMMs, where
  the time goes, are what is converted.
- quantize_gather_q8: the embedding table of an embed_tokens graph as int8
  (symmetric, per tensor) with a DequantizeLinear after the Gather, as ORT's
  dynamic quantizer treats Gather.
- merge_legacy: optimum's legacy merged decoder: one top-level If on
  use_cache_branch (bool [1]), then_branch = the with-past graph,
  else_branch = the without-past graph, initializers deduplicated across the
  two and moved to the top level.
"""
import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _inits(g):
    return {t.name: t for t in g.initializer}


def _const_b_matmuls(g):
    inits = _inits(g)
    for i, n in enumerate(g.node):
        if n.op_type == "MatMul" and n.input[1] in inits:
            t = inits[n.input[1]]
            if len(t.dims) == 2 and t.data_type == TensorProto.FLOAT:
                yield i, n, t


def _replace_nodes(g, new):
    """new maps an old node's index to the list of nodes replacing it."""
    nodes = []
    for i, n in enumerate(g.node):
        nodes.extend(new.get(i, [n]))
    del g.node[:]
    g.node.extend(nodes)


def _drop_unused_inits(g):
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)


def quantize_q8(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    new, dq_done, w_done, add = {}, set(), set(), []
    for i, n, t in list(_const_b_matmuls(g)):
        a, w = n.input[0], n.input[1]
        nodes = []
        if a not in dq_done:
            dq_done.add(a)
            nodes.append(helper.make_node("DynamicQuantizeLinear", [a], [a + "_quantized", a + "_scale", a + "_zero_point"],
                                          a + "_QuantizeLinear"))
        if w not in w_done:
            w_done.add(w)
            wf = numpy_helper.to_array(t).astype(np.float32)
            qmax = 64.0  # int8, symmetric, reduce_range
            scale = (np.abs(wf).max(axis=0) / qmax).astype(np.float32)
            scale[scale == 0] = 1.0
            q = np.clip(np.rint(wf / scale), -qmax, qmax).astype(np.int8)
            add += [numpy_helper.from_array(q, w + "_quantized"), numpy_helper.from_array(scale, w + "_scale"),
                    numpy_helper.from_array(np.zeros(scale.shape, np.int8), w + "_zero_point")]
        name = n.name + "_quant"
        mi = n.output[0] + "_output_quantized"
        nodes += [
            helper.make_node("MatMulInteger", [a + "_quantized", w + "_quantized", a + "_zero_point", w + "_zero_point"],
                             [mi], name),
            helper.make_node("Cast", [mi], [mi + "_cast_output"], mi + "_cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [a + "_scale", w + "_scale"], [name + "_scales_mul:0"], name + "_scales_mul"),
            helper.make_node("Mul", [mi + "_cast_output", name + "_scales_mul:0"], [n.output[0]],
                             name + "_output_scale_mul"),
        ]
        new[i] = nodes
    _replace_nodes(g, new)
    g.initializer.extend(add)
    _drop_unused_inits(g)
    return m


def quantize_q4(model, block=32):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    new, add = {}, []
    for i, n, t in list(_const_b_matmuls(g)):
        w = numpy_helper.to_array(t).astype(np.float32)  # [K, N]
        K, N = w.shape
        nb = (K + block - 1) // block
        wp = np.zeros((nb * block, N), np.float32)
        wp[:K] = w
        blocks = wp.T.reshape(N, nb, block)  # [N, n_blocks, block]
        # symmetric: the value of largest magnitude maps to -8, zero point 8
        idx = np.abs(blocks).argmax(axis=2)
        vmax = np.take_along_axis(blocks, idx[..., None], axis=2)[..., 0]
        scale = (vmax / -8.0).astype(np.float32)
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(blocks / scale[..., None]) + 8, 0, 15).astype(np.uint8)
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # [N, n_blocks, block/2]
        bname = n.input[1] + "_Q4"
        add += [numpy_helper.from_array(packed, bname), numpy_helper.from_array(scale.reshape(-1), n.input[1] + "_scales")]
        new[i] = [helper.make_node("MatMulNBits", [n.input[0], bname, n.input[1] + "_scales"], [n.output[0]],
                                              n.name + "_Q4", domain="com.microsoft", K=K, N=N, bits=4, block_size=block)]
    _replace_nodes(g, new)
    g.initializer.extend(add)
    _drop_unused_inits(g)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return m


def half_matmuls(model, kv_prefix=("past_key_values.", "present.")):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = _inits(g)
    new, add, cast16 = {}, [], set()
    gemm_w = set()
    for i, n, t in list(_const_b_matmuls(g)):
        a, w = n.input[0], n.input[1]
        nodes = []
        if a not in cast16:
            cast16.add(a)
            nodes.append(helper.make_node("Cast", [a], [a + "_fp16"], a + "_to_fp16", to=TensorProto.FLOAT16))
        if w not in gemm_w:
            gemm_w.add(w)
            add.append(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), w + "_fp16"))
        nodes += [helper.make_node("MatMul", [a + "_fp16", w + "_fp16"], [n.output[0] + "_fp16"], n.name + "_fp16"),
                  helper.make_node("Cast", [n.output[0] + "_fp16"], [n.output[0]], n.name + "_to_fp32",
                                   to=TensorProto.FLOAT)]
        new[i] = nodes
    _replace_nodes(g, new)
    # other large float initializers: stored as float16, cast on load
    used = {x for n in g.node for x in n.input}
    pre = []
    for name, t in inits.items():
        if name in gemm_w or name not in used or t.data_type != TensorProto.FLOAT:
            continue
        if int(np.prod(t.dims)) <= 16:
            continue
        add.append(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), name + "_fp16"))
        pre.append(helper.make_node("Cast", [name + "_fp16"], [name], name + "_cast", to=TensorProto.FLOAT))
        keep = [x for x in g.initializer if x.name != name]
        del g.initializer[:]
        g.initializer.extend(keep)
    # KV cache in float16 at the graph boundary
    for vi in g.input:
        if vi.name.startswith(kv_prefix[0]) and vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
            f32 = vi.name + "_fp32"
            _rename_inputs(g, {vi.name: f32})
            pre.append(helper.make_node("Cast", [vi.name], [f32], vi.name + "_to_fp32", to=TensorProto.FLOAT))
    post = []
    for vo in g.output:
        if vo.name.startswith(kv_prefix[1]) and vo.type.tensor_type.elem_type == TensorProto.FLOAT:
            vo.type.tensor_type.elem_type = TensorProto.FLOAT16
            f32 = vo.name + "_fp32"
            for n in g.node:
                for k, x in enumerate(n.output):
                    if x == vo.name:
                        n.output[k] = f32
            _rename_inputs(g, {vo.name: f32})
            post.append(helper.make_node("Cast", [f32], [vo.name], vo.name + "_to_fp16", to=TensorProto.FLOAT16))
    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(add)
    _drop_unused_inits(g)
    return m


def quantize_gather_q8(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = _inits(g)
    new, add = {}, []
    for i, n in enumerate(g.node):
        if n.op_type != "Gather" or n.input[0] not in inits:
            continue
        t = inits[n.input[0]]
        if t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            continue
        wf = numpy_helper.to_array(t)
        scale = np.float32(np.abs(wf).max() / 127.0) or np.float32(1.0)
        q = np.clip(np.rint(wf / scale), -127, 127).astype(np.int8)
        w = n.input[0]
        add += [numpy_helper.from_array(q, w + "_quantized"), numpy_helper.from_array(np.array(scale, np.float32), w + "_scale"),
                numpy_helper.from_array(np.array(0, np.int8), w + "_zero_point")]
        gq = n.output[0] + "_quantized"
        new[i] = [helper.make_node("Gather", [w + "_quantized", n.input[1]], [gq], n.name + "_quant",
                                   **{a.name: helper.get_attribute_value(a) for a in n.attribute}),
                  helper.make_node("DequantizeLinear", [gq, w + "_scale", w + "_zero_point"], [n.output[0]],
                                   n.name + "_dequant")]
    _replace_nodes(g, new)
    g.initializer.extend(add)
    _drop_unused_inits(g)
    return m


def _rename_inputs(g, mapping):
    for n in g.node:
        for i, x in enumerate(n.input):
            if x in mapping:
                n.input[i] = mapping[x]
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _rename_inputs(a.g, mapping)


def _produced(g):
    out = set()
    for n in g.node:
        out.update(n.output)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out |= _produced(a.g)
    return out


def merge_legacy(with_past, no_past):
    """optimum's merge_decoders: If(use_cache_branch) with then = with-past,
    else = no-past; initializers deduplicated by content and hoisted."""
    wp, np_ = onnx.ModelProto(), onnx.ModelProto()
    wp.CopyFrom(with_past)
    np_.CopyFrom(no_past)
    produced = _produced(wp.graph) | _produced(np_.graph)
    top, by_key, names = [], {}, set()
    for model in (np_, wp):
        mapping = {}
        for t in model.graph.initializer:
            key = (t.data_type, tuple(t.dims), hashlib.sha256(_tensor_bytes(t)).hexdigest())
            if key in by_key:
                mapping[t.name] = by_key[key]
                continue
            name = t.name
            while name in names or name in produced:
                name += "_merged"
            if name != t.name:
                mapping[t.name] = name
            nt = TensorProto()
            nt.CopyFrom(t)
            nt.name = name
            top.append(nt)
            names.add(name)
            by_key[key] = name
        _rename_inputs(model.graph, mapping)
        del model.graph.initializer[:]
    then_g = helper.make_graph(list(wp.graph.node), "with_past", [], list(wp.graph.output))
    else_g = helper.make_graph(list(np_.graph.node), "no_past", [], list(np_.graph.output))
    if_node = helper.make_node("If", ["use_cache_branch"], [o.name for o in wp.graph.output], "optimum::if",
                               then_branch=then_g, else_branch=else_g)
    inputs = list(wp.graph.input)
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    g = helper.make_graph([if_node], with_past.graph.name or "main_graph", inputs, list(wp.graph.output), top)
    m = helper.make_model(g, producer_name=with_past.producer_name, opset_imports=list(with_past.opset_import))
    m.producer_version = with_past.producer_version
    m.ir_version = with_past.ir_version
    return m


def _tensor_bytes(t):
    return numpy_helper.to_array(t).tobytes()

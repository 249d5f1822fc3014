"""A small graph builder over onnx.helper for the twin generators.

Nodes get unique output names; initializers come from numpy arrays. Only
what the twins need: opset 17, IR version 8 (onnx 1.12 is enough).
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


class Graph:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.inits = []
        self.inputs = []
        self.outputs = []
        self.n = 0

    def _name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def const(self, arr, hint="c"):
        name = self._name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def i64(self, *vals):
        return self.const(np.array(vals, dtype=np.int64), "i64")

    def f32(self, val):
        return self.const(np.array(val, dtype=np.float32), "f32")

    def op(self, op_type, *inputs, out=None, **attrs):
        o = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [o], **attrs))
        return o

    def op_n(self, op_type, inputs, n, **attrs):
        outs = [self._name(op_type.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def model(self, producer="vlmrun-twins"):
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(g, producer_name=producer, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = IR_VERSION
        return m


def weight(g, rng, shape, scale, fp16=False, hint="w"):
    """A random weight; fp16 stores it as float16 and casts it to float32."""
    w = (rng.standard_normal(shape) * scale).astype(np.float32)
    if not fp16:
        return g.const(w, hint)
    return g.op("Cast", g.const(w.astype(np.float16), hint), to=TensorProto.FLOAT)

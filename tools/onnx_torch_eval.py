#!/usr/bin/python3
"""Runs an ONNX model exported by networks/onnx_export.h with PyTorch ops (test-time only).

onnxruntime is not a Debian package and python3-onnx 1.12 has no evaluator, so this walks the
graph node by node with torch.nn.functional, for the operators GraphToOnnx writes: Conv,
BatchNormalization (inference), Relu, Clip, Add, MaxPool, AveragePool, GlobalAveragePool,
Concat, Flatten, Gemm, Pad (constant), Softmax, Identity. An independent check of what the
exported file computes (e.g. that Pad's pads mean the channel axis).

  onnx_torch_eval.py MODEL.onnx INPUTS.onnx INPUT_NAME OUT.onnx
reads the graph input from INPUTS.onnx's initializer INPUT_NAME, writes the first graph
output as the initializer "output" of a node-less OUT.onnx (float32).
"""
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def pool_padding(x, pads, value):
    """ONNX pads [t, l, b, r] as an explicit F.pad (torch pooling wants symmetric padding)."""
    t, l, b, r = pads
    return F.pad(x, (l, r, t, b), "constant", value) if any(pads) else x


def run(model, feed):
    values = {k: torch.from_numpy(numpy_helper.to_array(t).copy()) for k, t in
              ((i.name, i) for i in model.graph.initializer)}
    values.update(feed)
    for node in model.graph.node:
        a = attrs(node)
        x = [values[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            t, l, b, r = a.get("pads", [0, 0, 0, 0])
            y = F.conv2d(F.pad(x[0], (l, r, t, b)), x[1], x[2] if len(x) > 2 else None,
                         stride=a.get("strides", [1, 1]), dilation=a.get("dilations", [1, 1]),
                         groups=a.get("group", 1))
        elif op == "BatchNormalization":
            y = F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op == "Relu":
            y = F.relu(x[0])
        elif op == "Clip":
            y = torch.clamp(x[0], float(x[1]), float(x[2]))
        elif op == "Add":
            y = x[0] + x[1]
        elif op == "MaxPool":
            if a.get("ceil_mode", 0):
                raise SystemExit("MaxPool ceil_mode is not handled here")
            y = F.max_pool2d(pool_padding(x[0], a.get("pads", [0, 0, 0, 0]), float("-inf")),
                             a["kernel_shape"], a.get("strides", [1, 1]))
        elif op == "AveragePool":
            if a.get("ceil_mode", 0) or (any(a.get("pads", [0])) and not a.get("count_include_pad", 0)):
                raise SystemExit("AveragePool with ceil_mode or excluded padding is not handled here")
            y = F.avg_pool2d(pool_padding(x[0], a.get("pads", [0, 0, 0, 0]), 0.0),
                             a["kernel_shape"], a.get("strides", [1, 1]))
        elif op == "GlobalAveragePool":
            y = x[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Concat":
            y = torch.cat(x, dim=a["axis"])
        elif op == "Flatten":
            y = torch.flatten(x[0], a.get("axis", 1))
        elif op == "Gemm":
            w = x[1].t() if a.get("transB", 0) else x[1]
            y = x[0] @ w + (x[2] if len(x) > 2 else 0)
        elif op == "Pad":
            if a.get("mode", b"constant") not in (b"constant", "constant"):
                raise SystemExit("Pad mode %s is not handled here" % a["mode"])
            pads = [int(p) for p in x[1]]
            rank = len(pads) // 2
            torch_pads = []
            for axis in reversed(range(rank)):  # F.pad: last axis first, (begin, end)
                torch_pads += [pads[axis], pads[axis + rank]]
            value = float(x[2]) if len(x) > 2 and x[2] is not None else 0.0
            y = F.pad(x[0], torch_pads, "constant", value)
        elif op == "Softmax":
            y = F.softmax(x[0], dim=a.get("axis", -1))
        elif op == "Identity":
            y = x[0]
        else:
            raise SystemExit("operator %s is not handled here" % op)
        values[node.output[0]] = y
    return values[model.graph.output[0].name]


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    model = onnx.load(sys.argv[1])
    inputs = {t.name: t for t in onnx.load(sys.argv[2]).graph.initializer}
    x = torch.from_numpy(numpy_helper.to_array(inputs[sys.argv[3]]).copy())
    with torch.no_grad():
        out = run(model, {model.graph.input[0].name: x})
    graph = helper.make_graph([], "output", [], [], initializer=[
        numpy_helper.from_array(out.numpy().astype(np.float32), "output")])
    onnx.save(helper.make_model(graph, producer_name="tools/onnx_torch_eval.py"), sys.argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main())

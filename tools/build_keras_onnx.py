#!/usr/bin/python3
"""Builds Keras Applications networks as ONNX graphs (python3-onnx helper API) for parity tests.

Test / benchmark tooling only: the product never runs Python. Keras is not installed on these
machines and has no exporter that keeps our names, so the three Keras-only architectures
(MobileNet v1 alpha 1.0, Xception, ResNet50) are written here layer by layer from Keras
Applications' own definitions (keras/applications/{mobilenet,xception,resnet}.py): the same
layer sequence, strides, 'same' / 'valid' paddings, ZeroPadding2D layers, BatchNormalization
epsilons (1e-3, ResNet50 1.001e-5), conv biases where Keras has them and the include_top heads.
This file deliberately does not look at networks/arch_*.cc: it is the independent side of the
comparison. Run it with Debian's /usr/bin/python3 (python3-onnx, python3-numpy).

    /usr/bin/python3 tools/build_keras_onnx.py --out DIR [--force] [arch ...]

archs: keras_mobilenet_v1 keras_xception keras_resnet50 (default: all three). For each,
DIR/<arch>/ receives
    model.onnx        opset 13, NCHW, input "input" [batch, 3, S, S]; outputs "logits"
                      (before the softmax; first, what tools/ort_reference.js saves) and
                      "probabilities" (Keras' softmax activation)
    input.bin         np.random.default_rng(0).standard_normal((2, 3, S, S)), float32 LE
                      (the same input as tools/export_torchvision.py)
    input.json        {"shape": [2, 3, S, S], ...}
    numpy_logits.bin  the same network evaluated by this script's own float64 NumPy forward
                      pass on input.bin (float32 LE, [2, 1000]): a second, independent
                      reference for onnxruntime's output
    export.json       layers, parameter counts, settings, timing (written last: its presence
                      means the build is complete)

Layouts and names. Keras stores a Conv2D kernel as [kh, kw, in, out], a DepthwiseConv2D
kernel as [kh, kw, in, multiplier] and a Dense kernel as [in, out]; the weights are drawn in
those layouts and converted to ONNX's [out, in/groups, kh, kw] and (Gemm, transB=1) [out, in],
as any Keras -> ONNX conversion must. TensorFlow 'same' padding is ONNX auto_pad SAME_UPPER
(onnxruntime works the padding out itself); ZeroPadding2D is an ONNX Pad node. Initializer
names follow quantbench's by_name convention (networks/graph.h): "<layer>.weight" /
"<layer>.bias" for kernels and biases, "<bn>.weight" (gamma), ".bias" (beta),
".running_mean", ".running_var" for BatchNormalization. <layer> is the Keras layer name, with
three documented exceptions: a SeparableConv2D "<s>" has two kernels, named "<s>_depthwise"
and "<s>_pointwise"; Xception's residual convs, which Keras leaves auto-named (conv2d,
batch_normalization, conv2d_1, ...), are "blockK_residual" / "blockK_residual_bn"; and
ResNet50's layers carry torchvision's state_dict names (conv2_block1_1_conv -> layer1.0.conv1,
conv2_block1_0_conv -> layer1.0.downsample.0, predictions -> fc), because quantbench's
resnet50 keeps those names in both of its styles. ONNX node names are the Keras layer names.

Weights (NumPy default_rng(seed 1)): kernels Glorot-uniform (Keras' default initializer);
every bias Keras has N(0, 0.2^2) (Keras initialises them to zero, which would make a missing
bias invisible); BatchNorm gamma U(0.5, 1.5), beta N(0, 0.1^2), and moving statistics from
one calibration pass of a N(0, 1) batch of 2: at each BatchNormalization, the per-channel
mean and variance of its input, the mean shifted by N(0, 0.1^2) standard deviations and the
variance scaled by U(0.8, 1.25). So the statistics are random but valid, and activations
stay normalised through 50+ layers as in a trained network instead of exploding or vanishing.

Check: the parameter totals (trainable + moving statistics) must equal the totals Keras'
model.summary() prints for these models (include_top, 1000 classes); exit status 1 otherwise.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_BATCH = 2
CALIBRATION_BATCH = 2
CLASSES = 1000
OPSET = 13

# model.summary() "Total params" of keras.applications.<Model>(weights=None) with the
# default include_top=True, classes=1000 (MobileNet: alpha=1.0, depth_multiplier=1).
KERAS_TOTAL_PARAMS = {
    "keras_mobilenet_v1": 4_253_864,
    "keras_xception": 22_910_480,
    "keras_resnet50": 25_636_712,
}


def same_pads(size, kernel, stride):
    """TensorFlow 'same': output ceil(size / stride), the odd pixel of padding at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class KerasNet:
    """A Keras functional model as a list of layers: emits ONNX and runs a NumPy forward.

    Values are names; self.shapes[name] is (C, H, W) or (F,) without the batch dimension.
    Each layer appends one entry to self.layers: (keras_name, forward, onnx_nodes), where
    forward(env, calibrate) reads and writes NumPy arrays in env (float64, NCHW).
    """

    def __init__(self, size, rng, param_prefix=lambda keras_name: keras_name):
        self.rng = rng
        self.param_prefix = param_prefix
        self.shapes = {"input": (3, size, size)}
        self.layers = []
        self.initializers = []  # (name, float32 ndarray in ONNX layout), network order
        self.params = {}        # name -> float64 ndarray (the same values)
        self.trainable = 0
        self.moving = 0
        self.extra_initializers = []  # non-weight constants (Pad pads, Clip bounds, shapes)

    # -- parameters
    def _param(self, name, value, trainable=True):
        value32 = np.ascontiguousarray(value, dtype=np.float32)
        self.initializers.append((name, value32))
        self.params[name] = value32.astype(np.float64)
        if trainable:
            self.trainable += value32.size
        else:
            self.moving += value32.size
        return name

    def _glorot(self, shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return self.rng.uniform(-limit, limit, size=shape)

    def _constant(self, name, array):
        self.extra_initializers.append(numpy_helper.from_array(array, name))
        return name

    def _add(self, keras_name, output, shape, forward, nodes):
        self.shapes[output] = shape
        self.layers.append((keras_name, forward, nodes))
        return output

    # -- Keras layers
    def conv2d(self, x, filters, kernel, strides=1, padding="valid", use_bias=True, name=None,
               param_name=None):
        c, h, w = self.shapes[x]
        prefix = param_name or self.param_prefix(name)
        keras_kernel = self._glorot((kernel, kernel, c, filters), kernel * kernel * c,
                                    kernel * kernel * filters)
        weight = self._param(prefix + ".weight", keras_kernel.transpose(3, 2, 0, 1))
        inputs = [x, weight]
        if use_bias:
            inputs.append(self._param(prefix + ".bias", self.rng.normal(0.0, 0.2, filters)))
        return self._conv(name, inputs, filters, kernel, strides, padding, groups=1)

    def depthwise_conv2d(self, x, kernel, strides=1, padding="valid", use_bias=True, name=None,
                         param_name=None):
        c, h, w = self.shapes[x]
        prefix = param_name or self.param_prefix(name)
        keras_kernel = self._glorot((kernel, kernel, c, 1), kernel * kernel * c, kernel * kernel)
        # [kh, kw, in, 1] -> [in * 1, 1, kh, kw]
        onnx_kernel = keras_kernel.transpose(2, 3, 0, 1).reshape(c, 1, kernel, kernel)
        inputs = [x, self._param(prefix + ".weight", onnx_kernel)]
        if use_bias:
            inputs.append(self._param(prefix + ".bias", self.rng.normal(0.0, 0.2, c)))
        return self._conv(name, inputs, c, kernel, strides, padding, groups=c)

    def separable_conv2d(self, x, filters, kernel, strides=1, padding="valid", use_bias=True,
                         name=None):
        """Keras SeparableConv2D: depthwise (padding, strides) then pointwise 1x1, one layer."""
        c, h, w = self.shapes[x]
        prefix = self.param_prefix(name)
        depth = self._glorot((kernel, kernel, c, 1), kernel * kernel * c, kernel * kernel)
        point = self._glorot((1, 1, c, filters), c, filters)
        dw = self._param(prefix + "_depthwise.weight",
                         depth.transpose(2, 3, 0, 1).reshape(c, 1, kernel, kernel))
        pw = self._param(prefix + "_pointwise.weight", point.transpose(3, 2, 0, 1))
        y = self._conv(name + "/depthwise", [x, dw], c, kernel, strides, padding, groups=c)
        inputs = [y, pw]
        if use_bias:
            inputs.append(self._param(prefix + ".bias", self.rng.normal(0.0, 0.2, filters)))
        return self._conv(name, inputs, filters, 1, 1, "valid", groups=1)

    def _conv(self, name, inputs, filters, kernel, strides, padding, groups):
        x = inputs[0]
        c, h, w = self.shapes[x]
        if padding == "same":
            pt, pb = same_pads(h, kernel, strides)
            pl, pr = same_pads(w, kernel, strides)
        else:
            pt = pb = pl = pr = 0
        oh = (h + pt + pb - kernel) // strides + 1
        ow = (w + pl + pr - kernel) // strides + 1
        attrs = dict(kernel_shape=[kernel, kernel], strides=[strides, strides], group=groups)
        attrs["auto_pad"] = "SAME_UPPER" if padding == "same" else "VALID"
        node = helper.make_node("Conv", inputs, [name], name=name, **attrs)
        params = self.params

        def forward(env, calibrate):
            xp = np.pad(env[x], ((0, 0), (0, 0), (pt, pb), (pl, pr)))
            weight = params[inputs[1]]
            out = np.zeros((xp.shape[0], filters, oh, ow))
            for i in range(kernel):
                for j in range(kernel):
                    tap = xp[:, :, i:i + strides * (oh - 1) + 1:strides,
                             j:j + strides * (ow - 1) + 1:strides]
                    if groups == 1:
                        out += np.einsum("oc,nchw->nohw", weight[:, :, i, j], tap, optimize=True)
                    else:  # depthwise, multiplier 1
                        out += weight[None, :, 0, i, j, None, None] * tap
            if len(inputs) == 3:
                out += params[inputs[2]][None, :, None, None]
            env[name] = out

        return self._add(name, name, (filters, oh, ow), forward, [node])

    def batch_norm(self, x, epsilon=1e-3, name=None, param_name=None):
        c = self.shapes[x][0]
        prefix = param_name or self.param_prefix(name)
        gamma = self._param(prefix + ".weight", self.rng.uniform(0.5, 1.5, c))
        beta = self._param(prefix + ".bias", self.rng.normal(0.0, 0.1, c))
        # Placeholders, replaced by calibrate() before the model is written.
        mean = self._param(prefix + ".running_mean", np.zeros(c), trainable=False)
        var = self._param(prefix + ".running_var", np.ones(c), trainable=False)
        node = helper.make_node("BatchNormalization", [x, gamma, beta, mean, var], [name],
                                name=name, epsilon=epsilon)
        params, rng = self.params, self.rng

        def forward(env, calibrate):
            v = env[x]
            if calibrate:
                m = v.mean(axis=(0, 2, 3))
                s2 = v.var(axis=(0, 2, 3))
                params[mean] = m + rng.normal(0.0, 0.1, c) * np.sqrt(s2)
                params[var] = s2 * rng.uniform(0.8, 1.25, c)
            scale = params[gamma] / np.sqrt(params[var] + epsilon)
            env[name] = ((v - params[mean][None, :, None, None]) * scale[None, :, None, None] +
                         params[beta][None, :, None, None])

        return self._add(name, name, self.shapes[x], forward, [node])

    def relu(self, x, max_value=None, name=None):
        if max_value is None:
            node = helper.make_node("Relu", [x], [name], name=name)
        else:  # Keras ReLU(6.) -> Clip(0, 6); opset 13 takes the bounds as inputs
            lo = self._constant(name + "/min", np.array(0.0, dtype=np.float32))
            hi = self._constant(name + "/max", np.array(max_value, dtype=np.float32))
            node = helper.make_node("Clip", [x, lo, hi], [name], name=name)

        def forward(env, calibrate):
            v = np.maximum(env[x], 0.0)
            env[name] = v if max_value is None else np.minimum(v, max_value)

        return self._add(name, name, self.shapes[x], forward, [node])

    def zero_padding2d(self, x, padding, name=None):
        (t, b), (l, r) = padding
        c, h, w = self.shapes[x]
        pads = self._constant(name + "/pads", np.array([0, 0, t, l, 0, 0, b, r], dtype=np.int64))
        node = helper.make_node("Pad", [x, pads], [name], name=name, mode="constant")

        def forward(env, calibrate):
            env[name] = np.pad(env[x], ((0, 0), (0, 0), (t, b), (l, r)))

        return self._add(name, name, (c, h + t + b, w + l + r), forward, [node])

    def max_pooling2d(self, x, pool, strides, padding="valid", name=None):
        c, h, w = self.shapes[x]
        if padding == "same":
            pt, pb = same_pads(h, pool, strides)
            pl, pr = same_pads(w, pool, strides)
        else:
            pt = pb = pl = pr = 0
        oh = (h + pt + pb - pool) // strides + 1
        ow = (w + pl + pr - pool) // strides + 1
        node = helper.make_node("MaxPool", [x], [name], name=name, kernel_shape=[pool, pool],
                                strides=[strides, strides],
                                auto_pad="SAME_UPPER" if padding == "same" else "VALID")

        def forward(env, calibrate):
            # TensorFlow's 'same' max pooling never selects the padding.
            xp = np.pad(env[x], ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
            out = np.full((xp.shape[0], c, oh, ow), -np.inf)
            for i in range(pool):
                for j in range(pool):
                    out = np.maximum(out, xp[:, :, i:i + strides * (oh - 1) + 1:strides,
                                             j:j + strides * (ow - 1) + 1:strides])
            env[name] = out

        return self._add(name, name, (c, oh, ow), forward, [node])

    def add(self, a, b, name=None):
        assert self.shapes[a] == self.shapes[b], (name, self.shapes[a], self.shapes[b])
        node = helper.make_node("Add", [a, b], [name], name=name)

        def forward(env, calibrate):
            env[name] = env[a] + env[b]

        return self._add(name, name, self.shapes[a], forward, [node])

    def global_average_pooling2d(self, x, keepdims=False, name=None):
        c = self.shapes[x][0]
        if keepdims:
            nodes = [helper.make_node("GlobalAveragePool", [x], [name], name=name)]
        else:
            nodes = [helper.make_node("GlobalAveragePool", [x], [name + "/keepdims"], name=name),
                     helper.make_node("Flatten", [name + "/keepdims"], [name],
                                      name=name + "/flatten", axis=1)]

        def forward(env, calibrate):
            env[name] = env[x].mean(axis=(2, 3), keepdims=keepdims)

        return self._add(name, name, (c, 1, 1) if keepdims else (c,), forward, nodes)

    def dense(self, x, units, name=None):
        (features,) = self.shapes[x]
        prefix = self.param_prefix(name)
        keras_kernel = self._glorot((features, units), features, units)
        weight = self._param(prefix + ".weight", keras_kernel.T)  # Gemm transB=1: [out, in]
        bias = self._param(prefix + ".bias", self.rng.normal(0.0, 0.2, units))
        node = helper.make_node("Gemm", [x, weight, bias], [name], name=name, transB=1)
        params = self.params

        def forward(env, calibrate):
            env[name] = env[x] @ params[weight].T + params[bias][None, :]

        return self._add(name, name, (units,), forward, [node])

    def reshape(self, x, target, name=None):
        assert int(np.prod(self.shapes[x])) == int(np.prod(target)), (name, self.shapes[x], target)
        shape = self._constant(name + "/shape", np.array([0] + list(target), dtype=np.int64))
        node = helper.make_node("Reshape", [x, shape], [name], name=name)

        def forward(env, calibrate):
            env[name] = env[x].reshape((env[x].shape[0],) + tuple(target))

        return self._add(name, name, tuple(target), forward, [node])

    # -- whole-network operations
    def forward(self, x, output, calibrate=False):
        env = {"input": x.astype(np.float64)}
        for _, fn, _ in self.layers:
            fn(env, calibrate)
        return env[output]

    def to_onnx(self, graph_name, last_value, logits="logits", probabilities="probabilities"):
        """The graph; the last layer's output value is renamed `logits` (the ONNX output)."""
        nodes = [n for _, _, layer_nodes in self.layers for n in layer_nodes]
        for node in nodes:
            node.input[:] = [logits if v == last_value else v for v in node.input]
            node.output[:] = [logits if v == last_value else v for v in node.output]
        nodes.append(helper.make_node("Softmax", [logits], [probabilities], name="predictions",
                                      axis=-1))
        inits = [numpy_helper.from_array(self.params[name].astype(np.float32), name)
                 for name, _ in self.initializers]
        size = self.shapes["input"]
        graph = helper.make_graph(
            nodes, graph_name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *size])],
            [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", CLASSES]),
             helper.make_tensor_value_info(probabilities, TensorProto.FLOAT, ["batch", CLASSES])],
            initializer=inits + self.extra_initializers)
        model = helper.make_model(graph, producer_name="quantbench tools/build_keras_onnx.py",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 7
        onnx.checker.check_model(model)
        return model


# ------------------------------------------------------------------ Keras Applications models

def mobilenet_v1(net, alpha=1.0, depth_multiplier=1):
    """keras/applications/mobilenet.py: MobileNet(alpha=1.0, include_top=True)."""
    assert depth_multiplier == 1

    def conv_block(x, filters, strides):
        filters = int(filters * alpha)
        x = net.conv2d(x, filters, 3, strides=strides, padding="same", use_bias=False,
                       name="conv1")
        x = net.batch_norm(x, name="conv1_bn")
        return net.relu(x, 6.0, name="conv1_relu")

    def depthwise_conv_block(x, pointwise_filters, block_id, strides=1):
        pointwise_filters = int(pointwise_filters * alpha)
        if strides != 1:
            x = net.zero_padding2d(x, ((0, 1), (0, 1)), name=f"conv_pad_{block_id}")
        x = net.depthwise_conv2d(x, 3, strides=strides,
                                 padding="same" if strides == 1 else "valid", use_bias=False,
                                 name=f"conv_dw_{block_id}")
        x = net.batch_norm(x, name=f"conv_dw_{block_id}_bn")
        x = net.relu(x, 6.0, name=f"conv_dw_{block_id}_relu")
        x = net.conv2d(x, pointwise_filters, 1, padding="same", use_bias=False,
                       name=f"conv_pw_{block_id}")
        x = net.batch_norm(x, name=f"conv_pw_{block_id}_bn")
        return net.relu(x, 6.0, name=f"conv_pw_{block_id}_relu")

    x = conv_block("input", 32, strides=2)
    x = depthwise_conv_block(x, 64, 1)
    x = depthwise_conv_block(x, 128, 2, strides=2)
    x = depthwise_conv_block(x, 128, 3)
    x = depthwise_conv_block(x, 256, 4, strides=2)
    x = depthwise_conv_block(x, 256, 5)
    x = depthwise_conv_block(x, 512, 6, strides=2)
    for block_id in range(7, 12):
        x = depthwise_conv_block(x, 512, block_id)
    x = depthwise_conv_block(x, 1024, 12, strides=2)
    x = depthwise_conv_block(x, 1024, 13)
    # include_top: GlobalAveragePooling2D(keepdims=True), Dropout (identity at inference),
    # Conv2D(classes, 1x1, 'same', bias) "conv_preds", Reshape((classes,)), softmax.
    x = net.global_average_pooling2d(x, keepdims=True, name="global_average_pooling2d")
    x = net.conv2d(x, CLASSES, 1, padding="same", name="conv_preds")
    return net.reshape(x, (CLASSES,), name="reshape_2")


def xception(net):
    """keras/applications/xception.py: Xception(include_top=True)."""
    x = net.conv2d("input", 32, 3, strides=2, use_bias=False, name="block1_conv1")
    x = net.batch_norm(x, name="block1_conv1_bn")
    x = net.relu(x, name="block1_conv1_act")
    x = net.conv2d(x, 64, 3, use_bias=False, name="block1_conv2")
    x = net.batch_norm(x, name="block1_conv2_bn")
    x = net.relu(x, name="block1_conv2_act")

    # Blocks 2-4 and 13: Keras' auto-named residual conv2d / batch_normalization (_1, _2, _3).
    def entry_block(x, block, filters1, filters2, auto_index, first_relu=True):
        suffix = "" if auto_index == 0 else f"_{auto_index}"
        residual = net.conv2d(x, filters2, 1, strides=2, padding="same", use_bias=False,
                              name="conv2d" + suffix, param_name=f"block{block}_residual")
        residual = net.batch_norm(residual, name="batch_normalization" + suffix,
                                  param_name=f"block{block}_residual_bn")
        p = f"block{block}"
        if first_relu:
            x = net.relu(x, name=p + "_sepconv1_act")
        x = net.separable_conv2d(x, filters1, 3, padding="same", use_bias=False,
                                 name=p + "_sepconv1")
        x = net.batch_norm(x, name=p + "_sepconv1_bn")
        x = net.relu(x, name=p + "_sepconv2_act")
        x = net.separable_conv2d(x, filters2, 3, padding="same", use_bias=False,
                                 name=p + "_sepconv2")
        x = net.batch_norm(x, name=p + "_sepconv2_bn")
        x = net.max_pooling2d(x, 3, 2, padding="same", name=p + "_pool")
        return net.add(x, residual, name=p + "_add")

    x = entry_block(x, 2, 128, 128, 0, first_relu=False)
    x = entry_block(x, 3, 256, 256, 1)
    x = entry_block(x, 4, 728, 728, 2)
    for i in range(8):
        residual = x
        p = f"block{i + 5}"
        for k in (1, 2, 3):
            x = net.relu(x, name=f"{p}_sepconv{k}_act")
            x = net.separable_conv2d(x, 728, 3, padding="same", use_bias=False,
                                     name=f"{p}_sepconv{k}")
            x = net.batch_norm(x, name=f"{p}_sepconv{k}_bn")
        x = net.add(x, residual, name=p + "_add")
    x = entry_block(x, 13, 728, 1024, 3)

    x = net.separable_conv2d(x, 1536, 3, padding="same", use_bias=False, name="block14_sepconv1")
    x = net.batch_norm(x, name="block14_sepconv1_bn")
    x = net.relu(x, name="block14_sepconv1_act")
    x = net.separable_conv2d(x, 2048, 3, padding="same", use_bias=False, name="block14_sepconv2")
    x = net.batch_norm(x, name="block14_sepconv2_bn")
    x = net.relu(x, name="block14_sepconv2_act")
    x = net.global_average_pooling2d(x, name="avg_pool")
    return net.dense(x, CLASSES, name="predictions_dense")


def resnet50(net):
    """keras/applications/resnet.py: ResNet50(include_top=True) = ResNet(stack_fn, False, True)."""
    eps = 1.001e-5

    def block1(x, filters, stride=1, conv_shortcut=True, name=None):
        if conv_shortcut:
            shortcut = net.conv2d(x, 4 * filters, 1, strides=stride, name=name + "_0_conv")
            shortcut = net.batch_norm(shortcut, epsilon=eps, name=name + "_0_bn")
        else:
            shortcut = x
        x = net.conv2d(x, filters, 1, strides=stride, name=name + "_1_conv")
        x = net.batch_norm(x, epsilon=eps, name=name + "_1_bn")
        x = net.relu(x, name=name + "_1_relu")
        x = net.conv2d(x, filters, 3, padding="same", name=name + "_2_conv")
        x = net.batch_norm(x, epsilon=eps, name=name + "_2_bn")
        x = net.relu(x, name=name + "_2_relu")
        x = net.conv2d(x, 4 * filters, 1, name=name + "_3_conv")
        x = net.batch_norm(x, epsilon=eps, name=name + "_3_bn")
        x = net.add(shortcut, x, name=name + "_add")
        return net.relu(x, name=name + "_out")

    def stack1(x, filters, blocks, stride1=2, name=None):
        x = block1(x, filters, stride=stride1, name=name + "_block1")
        for i in range(2, blocks + 1):
            x = block1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
        return x

    x = net.zero_padding2d("input", ((3, 3), (3, 3)), name="conv1_pad")
    x = net.conv2d(x, 64, 7, strides=2, use_bias=True, name="conv1_conv")
    x = net.batch_norm(x, epsilon=eps, name="conv1_bn")
    x = net.relu(x, name="conv1_relu")
    x = net.zero_padding2d(x, ((1, 1), (1, 1)), name="pool1_pad")
    x = net.max_pooling2d(x, 3, 2, name="pool1_pool")
    x = stack1(x, 64, 3, stride1=1, name="conv2")
    x = stack1(x, 128, 4, name="conv3")
    x = stack1(x, 256, 6, name="conv4")
    x = stack1(x, 512, 3, name="conv5")
    x = net.global_average_pooling2d(x, name="avg_pool")
    return net.dense(x, CLASSES, name="predictions_dense")


def resnet_torchvision_name(keras_name):
    """Keras ResNet50 layer name -> quantbench's (torchvision's) parameter prefix."""
    if keras_name == "conv1_conv":
        return "conv1"
    if keras_name == "conv1_bn":
        return "bn1"
    if keras_name == "predictions_dense":
        return "fc"
    # conv{S}_block{B}_{K}_{conv|bn}
    stage, block, k, kind = keras_name.split("_")
    prefix = f"layer{int(stage[4:]) - 1}.{int(block[5:]) - 1}."
    if k == "0":
        return prefix + ("downsample.0" if kind == "conv" else "downsample.1")
    return prefix + ("conv" if kind == "conv" else "bn") + k


# The Keras Dense layer "predictions" has the softmax as its activation; here the Dense part
# is "predictions_dense" (output "logits") and the Softmax node is "predictions". Our
# parameter names keep the Keras name: "predictions.weight" / ".bias" (ResNet50: "fc.").
def keras_name_to_param(keras_name):
    return "predictions" if keras_name == "predictions_dense" else keras_name


ARCHS = {
    "keras_mobilenet_v1": (224, mobilenet_v1, keras_name_to_param),
    "keras_xception": (299, xception, keras_name_to_param),
    "keras_resnet50": (224, resnet50, resnet_torchvision_name),
}


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def build(arch, out_dir, force):
    arch_dir = os.path.join(out_dir, arch)
    done = os.path.join(arch_dir, "export.json")
    if os.path.exists(done) and not force:
        print(f"build_keras_onnx: {arch}: already built ({done})", file=sys.stderr)
        return True
    os.makedirs(arch_dir, exist_ok=True)
    size, define, names = ARCHS[arch]
    t0 = time.time()
    net = KerasNet(size, np.random.default_rng(1), param_prefix=names)
    logits_value = define(net)
    t_define = time.time() - t0

    total = net.trainable + net.moving
    if total != KERAS_TOTAL_PARAMS[arch]:
        print(f"build_keras_onnx: {arch}: {total:,} parameters ({net.trainable:,} trainable), "
              f"Keras' summary says {KERAS_TOTAL_PARAMS[arch]:,}: the definition is wrong",
              file=sys.stderr)
        return False

    t1 = time.time()
    calibration = np.random.default_rng(1).standard_normal((CALIBRATION_BATCH, 3, size, size))
    net.forward(calibration, logits_value, calibrate=True)
    t_calibrate = time.time() - t1

    x = np.random.default_rng(0).standard_normal((INPUT_BATCH, 3, size, size)).astype("<f4")
    t2 = time.time()
    logits = net.forward(x, logits_value).astype("<f4")
    t_forward = time.time() - t2
    write_atomic(os.path.join(arch_dir, "input.bin"), x.tobytes())
    write_atomic(os.path.join(arch_dir, "input.json"), json.dumps({
        "shape": list(x.shape), "dtype": "float32", "byte_order": "little",
        "generator": "numpy.random.default_rng(0).standard_normal",
    }, indent=1).encode())
    write_atomic(os.path.join(arch_dir, "numpy_logits.bin"), logits.tobytes())

    model = net.to_onnx(arch, logits_value)
    model_path = os.path.join(arch_dir, "model.onnx")
    write_atomic(model_path, model.SerializeToString())

    ops = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    meta = {
        "arch": arch,
        "image_size": size,
        "definition": "Keras Applications, include_top=True, classes=1000 "
                      "(tools/build_keras_onnx.py)",
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "opset": OPSET,
        "seed": 1,
        "weights": "Glorot-uniform kernels, N(0,0.2^2) biases, BN gamma U(0.5,1.5), beta "
                   "N(0,0.1^2), moving statistics from one calibration pass of a N(0,1) batch "
                   f"of {CALIBRATION_BATCH} (mean + N(0,0.1^2) std, var x U(0.8,1.25))",
        "onnx_nodes": len(model.graph.node),
        "trainable_params": net.trainable,
        "moving_statistics": net.moving,
        "keras_total_params": KERAS_TOTAL_PARAMS[arch],
        "initializers": [name for name, _ in net.initializers],
        "ops": ops,
        "numpy_logits_shape": list(logits.shape),
        "model_bytes": os.path.getsize(model_path),
        "seconds": {"define": round(t_define, 2), "calibrate": round(t_calibrate, 2),
                    "numpy_forward": round(t_forward, 2)},
    }
    write_atomic(done, json.dumps(meta, indent=1).encode())
    print(f"build_keras_onnx: {arch}: {len(model.graph.node)} ONNX nodes, {net.trainable:,} trainable "
          f"+ {net.moving:,} moving = Keras' {total:,}; {meta['model_bytes'] / 1e6:.1f} MB; "
          f"calibrate {t_calibrate:.1f}s, NumPy forward {t_forward:.1f}s", file=sys.stderr)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="reference directory (one folder per arch)")
    parser.add_argument("--force", action="store_true", help="rebuild existing archs")
    parser.add_argument("archs", nargs="*", default=list(ARCHS))
    args = parser.parse_args()
    ok = True
    for arch in args.archs:
        if arch not in ARCHS:
            print(f"build_keras_onnx: unknown architecture '{arch}'; known: {', '.join(ARCHS)}",
                  file=sys.stderr)
            ok = False
            continue
        ok = build(arch, args.out, args.force) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""InceptionV2 (BN-Inception, Ioffe & Szegedy 2015) feature extractor in Keras 3: PaletteNet's backbone.

GIFnets §3.1 builds PaletteNet on InceptionV2. This module rebuilds TF-slim's ``inception_v2_base``
(``research/slim/nets/inception_v2.py``) layer for layer, as a functional ``keras.Model`` with a
fully dynamic spatial input ``[B, None, None, C]``: every conv and pool uses "same" padding, so any
image size works (a 17x23 image reaches Mixed_5c as 1x1).

Every slim ``conv2d`` is Conv (no bias) -> BatchNorm (centre only, ``scale=False``, eps 1e-3, as in
slim's ``inception_arg_scope``) -> ReLU. Channel counts follow slim's
``depth(d) = max(int(d * depth_multiplier), min_depth)``.

Layer mapping (slim scope -> Keras layer name; "/" becomes "_" since Keras 3 forbids "/"):

=====================================================  ============================================
slim scope (under ``InceptionV2/``)                    Keras layers
=====================================================  ============================================
``Conv2d_1a_7x7`` separable 7x7/2, depth(64),          ``Conv2d_1a_7x7`` (SeparableConv2D, or Conv2D
depthwise multiplier ``min(int(depth(64)/3), 8)``      when ``use_separable_conv=False``),
                                                       ``Conv2d_1a_7x7_BatchNorm``, ``Conv2d_1a_7x7_Relu``
``MaxPool_2a_3x3`` max 3x3/2                           ``MaxPool_2a_3x3``
``Conv2d_2b_1x1`` depth(64)                            ``Conv2d_2b_1x1`` (+ ``_BatchNorm``, ``_Relu``)
``Conv2d_2c_3x3`` depth(192)                           ``Conv2d_2c_3x3`` (+ ``_BatchNorm``, ``_Relu``)
``MaxPool_3a_3x3`` max 3x3/2                           ``MaxPool_3a_3x3``
``Mixed_3b/Branch_k/<op>``                             ``Mixed_3b_Branch_k_<op>`` (+ ``_BatchNorm``,
                                                       ``_Relu`` after convs); concat ``Mixed_3b``
``Mixed_3c``, ``Mixed_4b``..``Mixed_4e``,              same pattern
``Mixed_5b``, ``Mixed_5c`` (inception modules)
``Mixed_4a``, ``Mixed_5a`` (grid reductions, /2)       same pattern
=====================================================  ============================================

Inception module branch depths (before ``depth()``), ``b0 | b1: 1x1, 3x3 | b2: 1x1, 3x3, 3x3 |
b3: 3x3 pool (stride 1), 1x1``:

* Mixed_3b  64 | 64, 64   | 64, 96, 96   | avg, 32
* Mixed_3c  64 | 64, 96   | 64, 96, 96   | avg, 64
* Mixed_4b 224 | 64, 96   | 96, 128, 128 | avg, 128
* Mixed_4c 192 | 96, 128  | 96, 128, 128 | avg, 128
* Mixed_4d 160 | 128, 160 | 128, 160, 160 | avg, 96
* Mixed_4e  96 | 128, 192 | 160, 192, 192 | avg, 96
* Mixed_5b 352 | 192, 320 | 160, 224, 224 | avg, 128
* Mixed_5c 352 | 192, 320 | 192, 224, 224 | max, 128

Grid reductions ``b0: 1x1, 3x3/2 | b1: 1x1, 3x3, 3x3/2 | b2: max 3x3/2``:

* Mixed_4a 128, 160 | 64, 96, 96
* Mixed_5a 128, 192 | 192, 256, 256

Output channels at depth_multiplier 1: 64, 64, 64, 192, 192, 256, 320, 576, 576, 576, 576, 576,
1024, 1024, 1024 (in :data:`ENDPOINTS` order); total stride 32. Not reproduced from slim: weight
decay (4e-5 in ``inception_arg_scope``; add a regularizer if wanted) and slim's per-layer
truncated-normal initialisers (He-normal is used throughout).
"""
from __future__ import annotations

import keras
from keras import layers

ENDPOINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4a",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_5a",
    "Mixed_5b",
    "Mixed_5c",
)

# Inception modules: (branch_0 1x1, (branch_1 1x1, 3x3), (branch_2 1x1, 3x3, 3x3), (pool type, 1x1)).
_MODULES = {
    "Mixed_3b": (64, (64, 64), (64, 96, 96), ("avg", 32)),
    "Mixed_3c": (64, (64, 96), (64, 96, 96), ("avg", 64)),
    "Mixed_4b": (224, (64, 96), (96, 128, 128), ("avg", 128)),
    "Mixed_4c": (192, (96, 128), (96, 128, 128), ("avg", 128)),
    "Mixed_4d": (160, (128, 160), (128, 160, 160), ("avg", 96)),
    "Mixed_4e": (96, (128, 192), (160, 192, 192), ("avg", 96)),
    "Mixed_5b": (352, (192, 320), (160, 224, 224), ("avg", 128)),
    "Mixed_5c": (352, (192, 320), (192, 224, 224), ("max", 128)),
}
# Grid reductions: ((branch_0 1x1, 3x3/2), (branch_1 1x1, 3x3, 3x3/2)); branch_2 is a 3x3/2 max pool.
_REDUCTIONS = {
    "Mixed_4a": ((128, 160), (64, 96, 96)),
    "Mixed_5a": ((128, 192), (192, 256, 256)),
}

_BN_EPSILON = 1e-3  # slim's inception_arg_scope


class _Builder:
    """Holds the width rule and batch-norm settings while the graph is laid out."""

    def __init__(self, depth_multiplier: float, min_depth: int, batch_norm_momentum: float):
        self.depth_multiplier = depth_multiplier
        self.min_depth = min_depth
        self.momentum = batch_norm_momentum

    def depth(self, d: int) -> int:
        return max(int(d * self.depth_multiplier), self.min_depth)

    def bn_relu(self, x, name: str):
        x = layers.BatchNormalization(
            momentum=self.momentum, epsilon=_BN_EPSILON, scale=False, synchronized=True,
            name=f"{name}_BatchNorm")(x)
        return layers.ReLU(name=f"{name}_Relu")(x)

    def conv(self, x, depth: int, kernel: int, name: str, stride: int = 1):
        """slim.conv2d under inception_arg_scope: conv (no bias) -> BN -> ReLU, "same" padding."""
        x = layers.Conv2D(self.depth(depth), kernel, strides=stride, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=name)(x)
        return self.bn_relu(x, name)

    def stem(self, x, use_separable_conv: bool, input_channels: int):
        """Conv2d_1a_7x7: slim's separable 7x7/2 conv, depthwise multiplier min(depth(64) // C, 8)."""
        name = "Conv2d_1a_7x7"
        if use_separable_conv:
            # slim keeps in_channels * depthwise_multiplier <= out_channels (no over-parameterisation).
            multiplier = max(1, min(int(self.depth(64) / input_channels), 8))
            x = layers.SeparableConv2D(self.depth(64), 7, strides=2, padding="same", depth_multiplier=multiplier,
                                       use_bias=False, depthwise_initializer="he_normal",
                                       pointwise_initializer="he_normal", name=name)(x)
        else:
            x = layers.Conv2D(self.depth(64), 7, strides=2, padding="same", use_bias=False,
                              kernel_initializer="he_normal", name=name)(x)
        return self.bn_relu(x, name)

    def module(self, x, name: str):
        b0, (b1a, b1b), (b2a, b2b, b2c), (pool, b3) = _MODULES[name]
        branch_0 = self.conv(x, b0, 1, f"{name}_Branch_0_Conv2d_0a_1x1")
        branch_1 = self.conv(x, b1a, 1, f"{name}_Branch_1_Conv2d_0a_1x1")
        branch_1 = self.conv(branch_1, b1b, 3, f"{name}_Branch_1_Conv2d_0b_3x3")
        branch_2 = self.conv(x, b2a, 1, f"{name}_Branch_2_Conv2d_0a_1x1")
        branch_2 = self.conv(branch_2, b2b, 3, f"{name}_Branch_2_Conv2d_0b_3x3")
        branch_2 = self.conv(branch_2, b2c, 3, f"{name}_Branch_2_Conv2d_0c_3x3")
        if pool == "avg":
            branch_3 = layers.AveragePooling2D(3, strides=1, padding="same",
                                               name=f"{name}_Branch_3_AvgPool_0a_3x3")(x)
        else:
            branch_3 = layers.MaxPooling2D(3, strides=1, padding="same",
                                           name=f"{name}_Branch_3_MaxPool_0a_3x3")(x)
        branch_3 = self.conv(branch_3, b3, 1, f"{name}_Branch_3_Conv2d_0b_1x1")
        return layers.Concatenate(axis=-1, name=name)([branch_0, branch_1, branch_2, branch_3])

    def reduction(self, x, name: str):
        (b0a, b0b), (b1a, b1b, b1c) = _REDUCTIONS[name]
        branch_0 = self.conv(x, b0a, 1, f"{name}_Branch_0_Conv2d_0a_1x1")
        branch_0 = self.conv(branch_0, b0b, 3, f"{name}_Branch_0_Conv2d_1a_3x3", stride=2)
        branch_1 = self.conv(x, b1a, 1, f"{name}_Branch_1_Conv2d_0a_1x1")
        branch_1 = self.conv(branch_1, b1b, 3, f"{name}_Branch_1_Conv2d_0b_3x3")
        branch_1 = self.conv(branch_1, b1c, 3, f"{name}_Branch_1_Conv2d_1a_3x3", stride=2)
        branch_2 = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_Branch_2_MaxPool_1a_3x3")(x)
        return layers.Concatenate(axis=-1, name=name)([branch_0, branch_1, branch_2])


def inception_v2_backbone(
    depth_multiplier: float = 1.0,
    min_depth: int = 16,
    final_endpoint: str = "Mixed_5c",
    use_separable_conv: bool = True,
    batch_norm_momentum: float = 0.99,
    return_endpoints: bool = False,
    input_channels: int = 3,
    name: str = "InceptionV2",
) -> keras.Model:
    """TF-slim ``inception_v2_base`` up to ``final_endpoint`` as a functional model (see module docstring).

    Args:
      depth_multiplier: width multiplier (> 0) for every conv, slim semantics.
      min_depth: lower bound on every conv's channel count.
      final_endpoint: one of :data:`ENDPOINTS`; the graph stops there.
      use_separable_conv: Conv2d_1a_7x7 as slim's separable conv (default) or a plain 7x7 conv.
      batch_norm_momentum: moving-average momentum of the batch norms (slim: 0.9997).
      return_endpoints: if True the model outputs a dict ``{endpoint: tensor}`` for every endpoint
        up to ``final_endpoint``; otherwise only the ``final_endpoint`` tensor.
      input_channels: channels of the input image (3 for RGB).
      name: model name.

    Returns:
      A ``keras.Model`` from ``[B, H, W, input_channels]`` (any H, W) to the feature map(s).
    """
    if final_endpoint not in ENDPOINTS:
        raise ValueError(f"unknown final_endpoint {final_endpoint!r}; expected one of {ENDPOINTS}")
    if not depth_multiplier > 0:
        raise ValueError(f"depth_multiplier must be > 0, got {depth_multiplier!r}")
    if int(min_depth) < 1:
        raise ValueError(f"min_depth must be >= 1, got {min_depth!r}")
    b = _Builder(depth_multiplier, int(min_depth), batch_norm_momentum)
    inputs = keras.Input(shape=(None, None, input_channels), name="images")
    # Each stage maps the running tensor to the next endpoint; sizes assume a 224x224 input.
    stages = [
        ("Conv2d_1a_7x7", lambda x: b.stem(x, use_separable_conv, input_channels)),  # -> 112x112
        ("MaxPool_2a_3x3", lambda x: layers.MaxPooling2D(3, strides=2, padding="same", name="MaxPool_2a_3x3")(x)),
        ("Conv2d_2b_1x1", lambda x: b.conv(x, 64, 1, "Conv2d_2b_1x1")),  # 56x56
        ("Conv2d_2c_3x3", lambda x: b.conv(x, 192, 3, "Conv2d_2c_3x3")),
        ("MaxPool_3a_3x3", lambda x: layers.MaxPooling2D(3, strides=2, padding="same", name="MaxPool_3a_3x3")(x)),
    ]
    for endpoint in ENDPOINTS[5:]:  # 28x28; Mixed_4a -> 14x14; Mixed_5a -> 7x7
        block = b.reduction if endpoint in _REDUCTIONS else b.module
        stages.append((endpoint, lambda x, block=block, endpoint=endpoint: block(x, endpoint)))
    assert tuple(stage_name for stage_name, _ in stages) == ENDPOINTS

    endpoints = {}
    x = inputs
    for endpoint, stage in stages:
        x = endpoints[endpoint] = stage(x)
        if endpoint == final_endpoint:
            break
    outputs = dict(endpoints) if return_endpoints else endpoints[final_endpoint]
    return keras.Model(inputs, outputs, name=name)


def endpoint_channels(depth_multiplier: float = 1.0, min_depth: int = 16) -> dict[str, int]:
    """Expected channel count of every endpoint (for shape checks without building the model)."""
    b = _Builder(depth_multiplier, min_depth, 0.99)
    d = b.depth
    out = {"Conv2d_1a_7x7": d(64), "MaxPool_2a_3x3": d(64), "Conv2d_2b_1x1": d(64),
           "Conv2d_2c_3x3": d(192), "MaxPool_3a_3x3": d(192)}
    previous = d(192)
    for endpoint in ENDPOINTS[5:]:
        if endpoint in _REDUCTIONS:
            (_, b0), (_, _, b1) = _REDUCTIONS[endpoint]
            previous = d(b0) + d(b1) + previous
        else:
            b0, (_, b1), (_, _, b2), (_, b3) = _MODULES[endpoint]
            previous = d(b0) + d(b1) + d(b2) + d(b3)
        out[endpoint] = previous
    return out

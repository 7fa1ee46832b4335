"""Inference copies of trained networks for ``gifnets encode``: batch norms folded, optionally in bfloat16.

Not in the paper; the trained networks and the exported models are unchanged. With a batch norm's
moving statistics, ``BN(conv(x)) = conv(x; W * s) + (b - mean) * s + beta`` where
``s = gamma / sqrt(var + eps)``, so each ``conv -> BN`` pair becomes one conv with a bias
(:func:`fold_batch_norm`). DitherNet's copy computes in :func:`inference_precision` (bfloat16 on a CPU
that has it natively; ``$GIFNETS_PRECISION`` overrides: ``dither_net.inference_model``); PaletteNet's
backbone copy stays float32 (``palette_net.inference_function``).
"""
from __future__ import annotations

import functools
import os

import keras
import numpy as np
from keras import layers

__all__ = ["fold_batch_norm", "inference_precision", "native_bfloat16"]

PRECISIONS = ("float32", "bfloat16")


class _FoldedAway(layers.Layer):
    """Stands in for a batch norm that :func:`fold_batch_norm` merged into the layer before it."""

    def call(self, x, training=None, mask=None):
        return x


def _foldable_source(bn: layers.BatchNormalization):
    """The layer whose output only ``bn`` reads, if its output channels are its kernel's last axis."""
    if len(bn._inbound_nodes) != 1 or bn.axis not in (-1, len(bn.input.shape) - 1):
        return None
    tensors = bn._inbound_nodes[0].input_tensors
    source = tensors[0]._keras_history.operation if len(tensors) == 1 else None
    foldable = (layers.SeparableConv2D, layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Dense)
    # Transposed convs keep their output channels on another kernel axis: left unfolded.
    if (not isinstance(source, foldable) or isinstance(source, (layers.Conv2DTranspose, layers.Conv1DTranspose))
            or len(source._outbound_nodes) != 1 or source.get_config().get("activation") not in (None, "linear")):
        return None
    return source


def fold_batch_norm(model: keras.Model, dtype: str = "float32") -> keras.Model:
    """An inference copy of a functional ``model``: every ``conv -> BN`` becomes one conv with a bias.

    Convs, separable convs (into their pointwise kernel) and dense layers whose output only a batch
    norm reads are folded; other batch norms stay. Every layer of the copy computes (and keeps its
    weights) in ``dtype`` ("float32" or "bfloat16"); the inputs and outputs stay float32. Not for training.
    """
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be one of {PRECISIONS}, got {dtype!r}")
    pairs = {}  # source layer name -> its batch norm
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization) and (source := _foldable_source(layer)) is not None:
            pairs[source.name] = layer
    folded_bns = {bn.name for bn in pairs.values()}
    old = {layer.name: layer for layer in model.layers}

    def clone(layer):
        if layer.name in folded_bns:
            return _FoldedAway(name=layer.name, dtype=dtype)
        config = {**layer.get_config(), "dtype": dtype}
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in folded.layers:
        if isinstance(layer, layers.InputLayer):
            continue  # no weights; a copied input may be renamed
        source = old[layer.name]
        bn = pairs.get(layer.name)
        if bn is not None:
            gamma = bn.gamma.numpy() if bn.scale else 1.0
            beta = bn.beta.numpy() if bn.center else 0.0
            scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
            bias = source.bias.numpy() if source.use_bias else 0.0
            bias = (bias - bn.moving_mean.numpy()) * scale + beta
            if isinstance(source, layers.SeparableConv2D):
                layer.set_weights([source.depthwise_kernel.numpy(), source.pointwise_kernel.numpy() * scale, bias])
            else:
                layer.set_weights([source.kernel.numpy() * scale, bias])
        elif source.weights and layer.name not in folded_bns:
            layer.set_weights(source.get_weights())
    outputs = [layers.Activation("linear", dtype="float32", name=f"{t._keras_history.operation.name}_float32")(t)
               for t in folded.outputs]
    return keras.Model(folded.inputs, outputs[0] if len(outputs) == 1 else outputs, name=f"{model.name}_folded")


@functools.lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (x86 AVX512-BF16 or AMX-BF16; Linux only)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def inference_precision(precision: str | None = None) -> str:
    """"float32" or "bfloat16": ``precision``, else ``$GIFNETS_PRECISION``, else "auto" (bfloat16 only
    where the CPU does it natively; elsewhere it would be emulated, which was not measured here)."""
    choice = (precision or os.environ.get("GIFNETS_PRECISION") or "auto").strip().lower()
    if choice == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    if choice not in PRECISIONS:
        from gif_pipeline.errors import GifnetsError

        raise GifnetsError(f"precision (or $GIFNETS_PRECISION) must be auto, float32 or bfloat16, got {choice!r}")
    return choice

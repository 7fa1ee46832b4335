"""``gifnets restore``'s networks on LiteRT + numpy (no TensorFlow): CCDNet-1/2/3 and the dither classifier.

The ``.tflite`` files are built from the registry's ``.keras`` files by ``python -m export.export_runtime --kinds
restore`` (:data:`REBUILD`) and found through the weight registry like the encoder's (``ccdnet_plain.tflite``,
``ccdnet_dithered.tflite``, ``gif_classifier.tflite`` beside the ``.keras`` files; loaded and checked by
:mod:`gif_pipeline.runtime.litert`). A CCDNet file has two signatures
(:func:`gif_pipeline.models.restore.graph.runtime_functions`): ``step1`` (GIF -> logits) and ``update`` (one later
step), so one file serves every ``--steps``; CCDNet-k is ``step1``, ``k - 1`` updates and ``tanh``, here. The
output is float (in [-1, 1]): :func:`gif_pipeline.restore._restore` applies the consistency post-step to it.
"""
from __future__ import annotations

import os

import numpy as np

from gif_pipeline.errors import GifnetsError
from gif_pipeline.runtime import litert

#: The restore family's runtime models (weight kinds; each ``<kind>.tflite``).
KINDS = ("ccdnet_plain", "ccdnet_dithered", "gif_classifier")
#: The command that (re)builds them from the registry's ``.keras`` files.
REBUILD = f"{litert.REBUILD} --kinds restore"
#: XNNPACK threads: :data:`litert.DEFAULT_THREADS` (one) unless ``$GIFNETS_THREADS`` says otherwise, as for encode.
#: Two were tried (benchmarks/restore_speed.py, docs/experiments/restore.md): on this project's shared 2-core machine
#: CCDNet-2 on a 512x512 GIF took 0.80 vs 0.92 s (two vs one thread) at load ~3.4, 1.80 vs 1.91 s at ~7.6 and
#: 1.05 vs 1.01 s at ~4.2 (CCDNet-1 and -3 as mixed): no consistent gain while other jobs hold the cores.


def path(kind: str) -> str:
    """The ``.tflite`` file of restore network ``kind`` in the weights folder (it may not exist)."""
    return litert.tflite_path(kind, None)


def available(kind: str) -> bool:
    """Whether the weights folder has the LiteRT model of ``kind`` (then ``auto`` runs it on LiteRT)."""
    return os.path.exists(path(kind))


def load(kind: str, explicit: str | None = None) -> litert.Model:
    """The LiteRT model of ``kind``: ``explicit`` (a ``.tflite`` path), else the weights folder's (checked)."""
    return litert.load_file(explicit or path(kind))


def ccdnet(model: litert.Model, steps: int, all_steps: bool = False):
    """CCDNet-``steps`` on ``model``: ``run(gif [1, H, W, 3], palette [1, K, 3]) -> restored [1, H, W, 3]``, float32
    in [-1, 1] (the Keras network's ``compose(step1, update, steps)``); with ``all_steps`` every step's estimate,
    ``[1, steps, H, W, 3]`` (``compose(..., all_steps=True)``)."""
    if steps > 1 and "update" not in model.signatures:
        raise GifnetsError(f"{model.name} has only step 1 trained; use --steps 1")

    def run(gif: np.ndarray, palette: np.ndarray) -> np.ndarray:
        gif = np.ascontiguousarray(gif, np.float32)
        z = model.run("step1", gif=gif)["logits"]
        estimates = [np.tanh(z)] if all_steps else []
        for _ in range(steps - 1):
            z = model.run("update", logits=z, gif=gif, palette=palette)["logits"]
            if all_steps:
                estimates.append(np.tanh(z))
        return np.stack(estimates, axis=1) if all_steps else np.tanh(z)

    return run


def classifier(model: litert.Model):
    """The dither classifier on ``model``: ``run(gif [1, H, W, 3] in [-1, 1]) -> P(dithered) [1, 1]``."""
    return lambda gif: model.run("classify", gif=np.ascontiguousarray(gif, np.float32))["probability"]

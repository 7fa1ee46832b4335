"""Frame interpolation for animated GIFs (GIF2Video §4.2): numpy frames in, ``factor`` times as many frames out.

    from gif_pipeline.interpolate import interpolate_frames
    out = interpolate_frames(frames, 4)            # uint8 [N, H, W, 3] -> [4 N, H, W, 3]

Timing: input frame i (lasting ``d_i``) becomes ``factor`` frames of ``d_i / factor`` each, the k-th showing
time ``i + k / factor`` (in frames): the output lasts as long as the input. The last input frame has no
successor and is held (repeated) for its ``factor`` slots. ``gifnets interpolate`` and
``gifnets restore --interpolate`` call this; a restoration network passes its restored frames as ``restored``
(the frames that are warped; the flows then read ``frames`` or ``restored`` as the network was trained).
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from gif_pipeline.errors import GifnetsError

FACTORS = (2, 4, 8)
_CACHE: dict = {}


class InterpolationError(GifnetsError):
    """Bad frames or factor for interpolation (one line for the CLI)."""


def check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or int(factor) not in FACTORS:
        raise InterpolationError(f"the interpolation factor must be 2, 4 or 8, got {factor!r}")
    return int(factor)


def factor_for_fps(fps: float, input_fps: float) -> int:
    """The smallest factor of 2, 4, 8 whose frame rate reaches ``fps``; an error if none does or none is needed."""
    if not fps > 0:
        raise InterpolationError(f"--fps must be positive, got {fps!r}")
    if fps <= input_fps * (1 + 1e-6):
        raise InterpolationError(f"--fps {fps:g}: the input already plays at {input_fps:.3g} fps; nothing to add")
    for factor in FACTORS:
        if input_fps * factor >= fps * (1 - 1e-6):
            return factor
    raise InterpolationError(f"--fps {fps:g}: at most 8x the input's {input_fps:.3g} fps ({8 * input_fps:.3g} fps)")


def check_frames(frames) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` with N >= 2 (a list of frames must share one size)."""
    if isinstance(frames, (list, tuple)):
        shapes = {np.shape(f) for f in frames}
        if len(shapes) > 1:
            raise InterpolationError(f"frames of different sizes: {sorted(shapes)[:2]}")
        frames = np.stack(frames) if frames else np.zeros([0, 1, 1, 3], np.uint8)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InterpolationError(f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[0] < 2:
        raise InterpolationError(f"a still image ({frames.shape[0]} frame): nothing to interpolate")
    return frames


def load_graph(model_path: str | None = None):
    """The :class:`InterpGraph` of the shipped (or ``model_path``) network, cached."""
    key = model_path or "<registry>"
    if key not in _CACHE:
        from gif_pipeline.models.interp.graph import InterpGraph
        from gif_pipeline.weights import registry

        _CACHE[key] = InterpGraph(registry.load("interp", explicit=model_path))
    return _CACHE[key]


def clear_cache():
    _CACHE.clear()


def iter_interpolated(frames: Iterable[np.ndarray], factor: int, graph=None, *, model_path: str | None = None,
                      restored: Iterable[np.ndarray] | None = None, flow_input: str | None = None
                      ) -> Iterator[np.ndarray]:
    """Stream the output frames (uint8 ``[H, W, 3]``): ``factor`` per input frame, holding only two input frames
    at a time (clips too long for memory go through here). ``flow_input``: which frames the flow U-Net reads,
    ``gif`` (GIF2Video's "parallel" variant) or ``restored`` ("sequential": the ``restored`` frames); default the
    network's own ``config.flow_input`` (the shipped network was trained on GIF frames: ``gif``)."""
    import tensorflow as tf

    from gif_pipeline.models.interp.config import FLOW_INPUTS

    factor = check_factor(factor)
    if flow_input is not None and flow_input not in FLOW_INPUTS:
        raise InterpolationError(f"flow_input must be one of {FLOW_INPUTS}, got {flow_input!r}")
    graph = graph or load_graph(model_path)
    flows_from_gif = (flow_input or graph.model.config.flow_input) == "gif"
    restored = iter(restored) if restored is not None else None
    prev = prev_r = None
    shape = None
    for frame in frames:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise InterpolationError(f"frames must be uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
        if shape is not None and frame.shape != shape:
            raise InterpolationError(f"frames of different sizes: {shape[1]}x{shape[0]} and "
                                     f"{frame.shape[1]}x{frame.shape[0]}")
        shape = frame.shape
        cur_r = next(restored) if restored is not None else frame
        if prev is not None:
            a, b = tf.constant(prev_r[None]), tf.constant(cur_r[None])
            flows = graph.flows(tf.constant(prev[None]), tf.constant(frame[None])) if flows_from_gif \
                else graph.flows(a, b)
            yield prev_r
            for k in range(1, factor):
                t = tf.constant([k / factor], tf.float32)
                yield graph.synthesize(a, b, flows["f01"], flows["f10"], t)["frame"][0].numpy()
        prev, prev_r = frame, cur_r
    if prev is None:
        raise InterpolationError("no frames")
    for _ in range(factor):
        yield prev_r


def interpolate_frames(frames, factor: int, *, model_path: str | None = None, graph=None,
                       restored=None) -> np.ndarray:
    """``factor`` times the frames (uint8 ``[N, H, W, 3]`` -> ``[factor N, H, W, 3]``); see the module."""
    frames = check_frames(frames)
    if restored is not None:
        restored = check_frames(restored)
        if restored.shape != frames.shape:
            raise InterpolationError(f"restored frames {restored.shape} differ from the frames {frames.shape}")
    return np.stack(list(iter_interpolated(frames, factor, graph, model_path=model_path, restored=restored)))


def input_fps(durations_ms) -> float:
    total = float(sum(durations_ms))
    return len(durations_ms) * 1000.0 / total if total > 0 else 10.0


def repeat_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """The baseline: each frame repeated ``factor`` times (what a GIF at the lower rate shows)."""
    return np.repeat(np.asarray(frames), factor, axis=0)


def min_interval_ms(durations_ms, factor: int) -> float:
    return min(durations_ms) / factor if durations_ms else math.inf

"""Where an animation's frames come from: a video (:mod:`gif_pipeline.io.video`), an animated GIF / APNG / WebP
(:func:`gif_pipeline.io.animation.iter_frames`), or stills joined as frames (``--animate``). Every source gives the
same thing, :class:`Source`: a fresh frame iterator per pass (two passes: one to sample frames for the global
palette, one to encode), the frame rate, the frame size after ``--width`` / ``--height``, and the projected frame
count, with ``--fps``, ``--start`` and ``--duration`` applied (frames dropped or repeated to reach ``--fps``)."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterator

import numpy as np

from gif_pipeline.errors import GifnetsError, ImageLoadError
from gif_pipeline.io import animation, video

#: Frames an input may give without ``--duration`` (``--max-frames`` raises it).
DEFAULT_MAX_FRAMES = 10_000


@dataclasses.dataclass
class Source:
    name: str
    width: int
    height: int
    fps: float
    frames: int | None  # projected count
    open: Callable[[], Iterator[np.ndarray]]  # a new pass over the frames (uint8 [H, W, 3])
    samples: Callable[[int], list[np.ndarray]]  # about n frames spread over the clip (small copies are fine)
    own_timing: bool = False  # open() gives (rgb, duration_ms) pairs: the file's timing, not fps


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


#: Short side of the sampled frames (``Source.samples``): the global palette's mosaic tiles are this small anyway
#: (``animate._mosaic``), and 64 full 1080p samples would hold 400 MB.
SAMPLE_SIDE = 160


def spread_indices(count: int, k: int) -> list[int]:
    """At most ``k`` distinct indices of ``range(count)`` evenly spread, first and last included (all when
    ``count <= k``)."""
    return sorted({int(round(i * (count - 1) / max(1, k - 1))) for i in range(k)}) if count > 0 else []


def small_copy(rgb: np.ndarray, side: int = SAMPLE_SIDE) -> np.ndarray:
    """``rgb`` box-downscaled to a short side of ``side`` (itself if it is no larger): the palette mosaic's tiles."""
    from PIL import Image

    h, w = rgb.shape[:2]
    s = side / min(h, w)
    if s >= 1:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BOX))


def _check_count(name: str, count: int | None, fps: float, max_frames: int, duration: float | None) -> None:
    if count is not None and count > max_frames:
        size = f"{count:,} frames ({count / fps:.0f} s at {fps:g} fps)"
        raise GifnetsError(f"{name}: refusing to encode {size}: above --max-frames {max_frames:,}; choose a part with "
                           "--start/--duration, a lower --fps, or raise --max-frames")


def from_video(path: str, fps: float | None = None, width: int | None = None, height: int | None = None,
               start: float = 0.0, duration: float | None = None, max_frames: int = DEFAULT_MAX_FRAMES) -> Source:
    info = video.probe(path)
    if info.duration is not None and start >= info.duration:
        raise ImageLoadError(f"{path}: --start {start:g} s is past the end of the {info.duration:.2f} s clip")
    rate = float(fps) if fps else min(info.fps, video.MAX_FPS)
    size = video.output_size(info.width, info.height, width, height)
    count = info.frames(rate, start, duration)
    _check_count(path, count, rate, max_frames, duration)

    def samples(n: int) -> list[np.ndarray]:
        length = (min(info.duration - start, duration) if duration else info.duration - start) \
            if info.duration else (duration or 10.0)
        small = video.output_size(size[0], size[1], None, SAMPLE_SIDE) if size[1] <= size[0] \
            else video.output_size(size[0], size[1], SAMPLE_SIDE, None)
        return list(video.iter_video(path, info, fps=max(n / max(length, 1e-3), 0.01), size=small, start=start,
                                     duration=duration))[:n] or []

    return Source(path, size[0], size[1], rate, count,
                  lambda: video.iter_video(path, info, fps=rate, size=size, start=start, duration=duration), samples)


def _retime(timed: Iterator[tuple[np.ndarray, float]], fps: float, start: float, duration: float | None):
    """Frames shown at ``start + k / fps`` (k = 0, 1, ...) from ``(rgb, duration_s)`` frames: dropped or repeated."""
    t0, k = 0.0, 0
    end_limit = None if duration is None else start + duration
    for rgb, d in timed:
        t1 = t0 + d
        while True:
            t = start + k / fps
            if end_limit is not None and t >= end_limit - 1e-9:
                return
            if t >= t1 - 1e-9:
                break
            if t >= t0 - 1e-9:
                yield rgb
            k += 1
        t0 = t1


def from_image(path: str, fps: float | None = None, width: int | None = None, height: int | None = None,
               start: float = 0.0, duration: float | None = None, max_frames: int = DEFAULT_MAX_FRAMES,
               max_pixels: int | None = None) -> Source:
    """An animated GIF / APNG / WebP. Without ``--fps``/``--start``/``--duration`` its own frame timing is kept."""
    from PIL import Image

    n = animation.frame_count(path)
    with Image.open(path) as im:
        w0, h0 = im.size
        total_ms = 0
        for i in range(n):
            im.seek(i)
            total_ms += int(round(float(im.info.get("duration", 0) or 0))) or 100
    if max_pixels is not None and w0 * h0 > max_pixels:
        raise ImageLoadError(f"{path}: {w0}x{h0} is above --max-pixels {max_pixels}")
    if start and start * 1000 >= total_ms:
        raise ImageLoadError(f"{path}: --start {start:g} s is past the end of the {total_ms / 1000:.2f} s animation")
    size = video.output_size(w0, h0, width, height)
    retime = bool(fps or start or duration)

    def timed():
        for rgb, d in animation.iter_frames(path):
            yield _resize(rgb, size), (d or 100) / 1000.0

    if retime:
        rate = float(fps) if fps else n * 1000.0 / total_ms
        length = (total_ms / 1000.0 - start) if duration is None else min(duration, total_ms / 1000.0 - start)
        count = int(math.ceil(length * rate - 1e-9))

        def frames():
            yield from _retime(timed(), rate, start, duration)
    else:
        rate, count = n * 1000.0 / total_ms, n

        def frames():  # (rgb, duration_ms): the file's own timing
            for rgb, d in timed():
                yield rgb, d * 1000.0

    _check_count(path, count, rate, max_frames, duration)

    def samples(k: int):
        picks = set(spread_indices(count, k))
        return [small_copy(f[0] if isinstance(f, tuple) else f) for i, f in enumerate(frames()) if i in picks]

    return Source(path, size[0], size[1], rate, count, frames, samples, own_timing=not retime)


def from_stills(paths: list[str], fps: float | None = None, width: int | None = None, height: int | None = None,
                start: float = 0.0, duration: float | None = None, max_pixels: int | None = None) -> Source:
    """Still images joined as frames in the order given (``--animate``); all must have the same size."""
    from gif_pipeline.io import images as image_io

    rate = float(fps) if fps else 20.0
    if not paths:
        raise GifnetsError("--animate needs at least one input")
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    first = image_io.load_image(paths[0], **kwargs).rgb
    size = video.output_size(first.shape[1], first.shape[0], width, height)
    if start and start * rate >= len(paths):
        raise GifnetsError(f"--start {start:g} s is past the end of the {len(paths) / rate:.2f} s animation "
                           f"({len(paths)} frames at {rate:g} fps)")
    lo = int(round(start * rate))
    hi = len(paths) if duration is None else min(len(paths), lo + max(1, int(round(duration * rate))))

    def frames():
        for i, p in enumerate(paths[lo:hi]):
            rgb = first if i + lo == 0 else image_io.load_image(p, **kwargs).rgb
            if rgb.shape[:2] != first.shape[:2]:
                raise GifnetsError(f"{p}: {rgb.shape[1]}x{rgb.shape[0]}, but {paths[0]} is "
                                   f"{first.shape[1]}x{first.shape[0]}: --animate frames must all have the same size")
            yield _resize(rgb, size)

    def samples(k: int):
        return [small_copy(_resize(image_io.load_image(paths[lo + i], **kwargs).rgb, size))
                for i in spread_indices(hi - lo, k)]

    return Source(f"{len(paths)} frames", size[0], size[1], rate, hi - lo, frames, samples)


def is_animation(path: str) -> bool:
    """Whether ``gifnets encode`` makes an animation of ``path``: a video by extension, or an image of 2+ frames."""
    if video.is_video_path(path):
        return True
    try:
        return animation.frame_count(path) > 1
    except ImageLoadError:
        return False

"""Training data for frame interpolation (GIF2Video §4.2): frame triplets (kept frame 0, true frame t, kept frame 1)
whose kept frames are decoded GIF frames, as tf.data, deterministic by seed.

Two kinds of motion, and every example says which (``real`` 1 or 0):

* **real** frames of video clips (``../shared/data/clips``: train on ``bikes.mp4`` and ``carphone_pristine.mp4``;
  ``bigbuckbunny.mp4`` is held out for validation and the bench, :data:`HELD_OUT_CLIP`). A window of ``k + 1``
  consecutive frames (k = 2, 4, 8 for 1/2, 1/4, 1/8 of the frames kept) that crosses no scene cut gives frames
  0 and k as the kept pair and frame i (0 < i < k) as the target at t = i / k;
* **synthetic** motion from photos (``../shared/data/train``): a crop that pans, zooms and rotates at a constant
  rate, with an independently moving patch of another photo pasted over it (occlusions) half of the time; the
  frame at t is rendered exactly.

The kept frames are quantized as a GIF encoder would: 32-256 colours (log-uniform), median cut (Pillow), with
Floyd-Steinberg dithering or without, each frame with its own palette. Crops are small (``crop_size``) so that
a CPU trains on them; random horizontal flips and time reversal.

Each example is a dict of float32 images in [-1, 1] (``gif0``, ``gif1``: the GIF frames; ``frame0``,
``frame1``, ``frame_t``: the true frames), ``t`` (float32) and ``factor``, ``colors``, ``dither``, ``real``
(int32). Example ``i`` of seed ``s`` is a function of (s, i) alone.
"""
from __future__ import annotations

import dataclasses
import math
import os
from functools import lru_cache

import numpy as np
from PIL import Image

from gif_pipeline.config import Config, check_int

DEFAULT_CLIPS_DIR = os.path.join("..", "shared", "data", "clips")
#: The real clip kept out of training, for validation and the bench.
HELD_OUT_CLIP = "bigbuckbunny.mp4"
TRAIN_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclasses.dataclass(frozen=True)
class MotionConfig(Config):
    crop_size: int = 128
    batch_size: int = 4
    seed: int = 0
    factors: tuple[int, ...] = (2, 4, 8)  # 1/2, 1/4, 1/8 of the frames kept
    min_colors: int = 32
    max_colors: int = 256
    dither_fraction: float = 0.5  # share of GIFs with Floyd-Steinberg dithering
    real_fraction: float = 0.5  # share of examples from real clips (when there are clips)
    photo_short_side: int = 256  # photos are resized to this short side before cropping
    shift_per_frame: float = 4.0  # synthetic pan: up to this many pixels per original frame
    zoom_per_frame: float = 0.015  # synthetic zoom: up to this relative scale change per frame
    rotate_per_frame: float = 1.0  # synthetic rotation: up to this many degrees per frame
    paste_fraction: float = 0.5  # share of synthetic examples with a pasted moving patch
    cut_threshold: float = 30.0  # mean |frame difference| (0-255) above which two clip frames are a cut
    # also ``image0`` / ``image1``: the GIF frames restored by ``gifnets restore`` (CCDNet-2 of the example's kind,
    # plain or dithered, with its consistency post-step), what the network warps at use after colour restoration
    restored: bool = False

    def __post_init__(self):
        check_int("crop_size", self.crop_size, 8)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0)
        if not self.factors or any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in self.factors):
            raise ValueError(f"factors must be integers >= 2, got {self.factors!r}")
        if not 2 <= self.min_colors <= self.max_colors <= 256:
            raise ValueError(f"need 2 <= min_colors <= max_colors <= 256, got {self.min_colors}, {self.max_colors}")
        for name in ("dither_fraction", "real_fraction", "paste_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")


# ------------------------------------------------------------------------------------------------ sources
def list_images(folders) -> list[str]:
    files = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            files += [os.path.join(root, n) for n in names if n.lower().endswith(_IMAGE_EXTENSIONS)]
    return sorted(files)


@lru_cache(maxsize=None)
def _photo(path: str, short_side: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = short_side / min(im.size)
        if scale < 1:
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BICUBIC)
        return np.asarray(im)


def read_clip(path: str, max_frames: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """The frames of a video file as uint8 ``[N, H, W, 3]`` (the imageio-ffmpeg binary), optionally scaled to
    ``size`` = (width, height) by ffmpeg's area filter."""
    import imageio_ffmpeg

    kwargs = {}
    if size is not None:
        kwargs["output_params"] = ["-vf", f"scale={size[0]}:{size[1]}:flags=area"]
    reader = imageio_ffmpeg.read_frames(path, **kwargs)
    meta = next(reader)
    w, h = size or meta["size"]
    frames = []
    for raw in reader:
        frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
        if max_frames and len(frames) >= max_frames:
            reader.close()
            break
    return np.stack(frames)


def scene_cuts(frames: np.ndarray, threshold: float) -> np.ndarray:
    """``cut[i]``: frames i and i + 1 differ by more than ``threshold`` (mean absolute, 0-255)."""
    diffs = np.abs(frames[1:].astype(np.int16) - frames[:-1]).mean(axis=(1, 2, 3))
    return diffs > threshold


@lru_cache(maxsize=None)
def _clip(path: str, threshold: float):
    frames = read_clip(path)
    cuts = np.concatenate([[0], np.cumsum(scene_cuts(frames, threshold))])  # cuts before frame i
    return frames, cuts


# ------------------------------------------------------------------------------------------- quantization
def quantize(frame: np.ndarray, colors: int, dither: bool) -> np.ndarray:
    """A frame as a GIF shows it: median cut to ``colors`` colours (Pillow), Floyd-Steinberg or no dither."""
    im = Image.fromarray(frame).quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                         dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE)
    return np.asarray(im.convert("RGB"))


# ------------------------------------------------------------------------------------------- synthetic
def _affine(center, shift, zoom, angle_deg, size):
    """PIL AFFINE data mapping output pixel (x, y) of a ``size`` crop to the source point
    ``center + shift + R(angle) (p - size/2) / zoom``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) / zoom, math.sin(a) / zoom
    h = (size - 1) / 2.0
    cx, cy = center[0] + shift[0], center[1] + shift[1]
    return (c, -s, cx - c * h + s * h, s, c, cy - s * h - c * h)


def _synthetic(rng, photos: list[str], factor: int, i: int, config: MotionConfig):
    """True frames at times 0, i/factor and 1 of a pan/zoom/rotation of one photo (+ a moving pasted patch)."""
    return synthetic_frames(rng, photos, factor, (0.0, i / factor, 1.0), config)


def synthetic_frames(rng, photos: list[str], factor: int, times, config: MotionConfig) -> list[np.ndarray]:
    """Frames at ``times`` (0..1 spans ``factor`` original frames) of one synthetic motion (see the module)."""
    size = config.crop_size
    bg = Image.fromarray(_photo(photos[rng.integers(len(photos))], config.photo_short_side))
    shift = rng.uniform(-1, 1, 2) * config.shift_per_frame * factor
    zoom = 1.0 + rng.uniform(-1, 1) * config.zoom_per_frame * factor
    angle = rng.uniform(-1, 1) * config.rotate_per_frame * factor
    # A centre from which the whole motion stays inside the photo where it can.
    reach = size / 2 * math.sqrt(2) / min(1.0, zoom)
    lo = np.array([reach + max(0, -shift[0]), reach + max(0, -shift[1])])
    hi = np.array([bg.width - reach - max(0, shift[0]), bg.height - reach - max(0, shift[1])])
    center = np.where(lo < hi, rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi)), [bg.width / 2, bg.height / 2])
    patch = None
    if rng.random() < config.paste_fraction:
        src = _photo(photos[rng.integers(len(photos))], config.photo_short_side)
        p = int(rng.integers(size // 5, size // 2 + 1))
        y, x = rng.integers(0, src.shape[0] - p + 1), rng.integers(0, src.shape[1] - p + 1)
        yy, xx = np.mgrid[:p, :p]
        r = ((yy - (p - 1) / 2) ** 2 + (xx - (p - 1) / 2) ** 2) / (p / 2) ** 2
        mask = Image.fromarray((np.clip((1.0 - r) * 4, 0, 1) * 255).astype(np.uint8))
        start = rng.uniform(0, size - p, 2)
        velocity = rng.uniform(-1, 1, 2) * config.shift_per_frame * 1.5 * factor
        patch = (Image.fromarray(np.ascontiguousarray(src[y:y + p, x:x + p])), mask, start, velocity)
    frames = []
    for tau in times:
        z = 1.0 + tau * (zoom - 1.0)
        im = bg.transform((size, size), Image.AFFINE, _affine(center, tau * shift, z, tau * angle, size),
                          resample=Image.BILINEAR)
        if patch is not None:
            src, mask, start, velocity = patch
            pos = start + tau * velocity
            im.paste(src, (int(round(pos[0])), int(round(pos[1]))), mask)
        frames.append(np.asarray(im))
    return frames


def _real(rng, clips: list[str], factor: int, i: int, config: MotionConfig):
    """Frames s, s + i, s + factor of a real clip, a window with no scene cut, one random crop."""
    for _ in range(20):
        frames, cuts = _clip(clips[rng.integers(len(clips))], config.cut_threshold)
        n, h, w = frames.shape[:3]
        if n <= factor:
            continue
        s = int(rng.integers(0, n - factor))
        if cuts[s + factor] != cuts[s]:
            continue
        size = min(config.crop_size, h, w)
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out = [frames[j, y:y + size, x:x + size] for j in (s, s + i, s + factor)]
        if size < config.crop_size:  # a clip smaller than the crop: scale it up
            out = [np.asarray(Image.fromarray(f).resize((config.crop_size,) * 2, Image.BICUBIC)) for f in out]
        return out
    return None


def make_example(index: int, photos: list[str], clips: list[str], config: MotionConfig) -> dict:
    """Example ``index`` of ``config.seed`` (numpy; see the module docstring)."""
    rng = np.random.default_rng([config.seed, index])
    factor = int(config.factors[rng.integers(len(config.factors))])
    i = int(rng.integers(1, factor))
    frames, real = None, 0
    if clips and (not photos or rng.random() < config.real_fraction):
        frames, real = _real(rng, clips, factor, i, config), 1
    if frames is None:
        frames, real = _synthetic(rng, photos, factor, i, config), 0
    f0, ft, f1 = frames
    if rng.random() < 0.5:  # mirror
        f0, ft, f1 = f0[:, ::-1], ft[:, ::-1], f1[:, ::-1]
    t = i / factor
    if rng.random() < 0.5:  # play backwards
        f0, f1, t = f1, f0, 1.0 - t
    lc, hc = math.log(config.min_colors), math.log(config.max_colors)
    colors = int(round(math.exp(rng.uniform(lc, hc))))
    dither = bool(rng.random() < config.dither_fraction)
    g0, g1 = quantize(np.ascontiguousarray(f0), colors, dither), quantize(np.ascontiguousarray(f1), colors, dither)
    unit = lambda x: (np.asarray(x, np.float32) / 127.5 - 1.0)  # noqa: E731
    ex = {"gif0": unit(g0), "gif1": unit(g1), "frame0": unit(f0), "frame1": unit(f1), "frame_t": unit(ft),
          "t": np.float32(t), "factor": np.int32(factor), "colors": np.int32(colors), "dither": np.int32(dither),
          "real": np.int32(real)}
    if config.restored:
        from gif_pipeline import restore

        which = "dithered" if dither else "plain"
        ex["image0"], ex["image1"] = (unit(restore.restore_image(g, model=which).image) for g in (g0, g1))
    return ex


_IMAGE_KEYS = ("gif0", "gif1", "frame0", "frame1", "frame_t")  # [S, S, 3] float32
_SCALAR_KEYS = ("t", "factor", "colors", "dither", "real")  # t float32, the others int32


def example_keys(config: MotionConfig) -> tuple[str, ...]:
    """The keys of :func:`make_example`'s dict under ``config``: images first (``[S, S, 3]`` float32), then ``t``
    (float32) and the int32 scalars."""
    return _IMAGE_KEYS + (("image0", "image1") if config.restored else ()) + _SCALAR_KEYS


def build_dataset(photo_folders=(), clip_files=(), config: MotionConfig = MotionConfig(), *, start: int = 0,
                  count: int | None = None, batch: bool = True):
    """A tf.data pipeline of :func:`make_example` ``start``, ``start + 1``, ... (``count`` of them, or endless),
    batched by ``config.batch_size``. The same seed gives the same batches."""
    import tensorflow as tf

    photos = list_images(photo_folders)
    clips = [os.fspath(c) for c in clip_files]
    if not photos and not clips:
        raise ValueError("motion data needs photos or clips; none found")
    if any(os.path.basename(c) == HELD_OUT_CLIP for c in clips):
        raise ValueError(f"{HELD_OUT_CLIP} is the held-out clip: keep it out of training")
    s = config.crop_size

    keys = example_keys(config)
    images = len(keys) - len(_SCALAR_KEYS)  # the [S, S, 3] arrays come first

    def load(index):
        ex = make_example(int(index), photos, clips, config)
        return [ex[k] for k in keys]

    def fn(index):
        values = tf.numpy_function(load, [index], [tf.float32] * (images + 1) + [tf.int32] * (len(_SCALAR_KEYS) - 1),
                                   stateful=False)
        ex = dict(zip(keys, values))
        for k in keys[:images]:
            ex[k] = tf.ensure_shape(ex[k], [s, s, 3])
        for k in keys[images:]:
            ex[k] = tf.ensure_shape(ex[k], [])
        return ex

    ds = tf.data.Dataset.range(start, start + count if count is not None else 2 ** 62).map(fn)
    if batch:
        ds = ds.batch(config.batch_size, drop_remainder=count is None)
    return ds.prefetch(1)


def default_clips(clips_dir: str = DEFAULT_CLIPS_DIR) -> list[str]:
    """The training clips present in ``clips_dir`` (never the held-out one)."""
    return [os.path.join(clips_dir, c) for c in TRAIN_CLIPS if os.path.exists(os.path.join(clips_dir, c))]

"""Labelled training data for BandingNet (GIFnets §3.3): quantized crops scored by the teacher.

BandingNet learns to imitate the non-differentiable banding teacher
(:func:`gif_pipeline.metrics.banding.banding_score`). This module makes its examples:

1. **Sources.** Photos (any folder of ``.jpg/.jpeg/.png/.webp``; the short side is resized to
   ``crop_size`` with Pillow's antialiased bilinear filter, then ``crops_per_image`` random
   ``crop_size``² crops) and synthetic smooth gradients (linear, diagonal or radial between two or
   three random colours, half of them with mild Gaussian noise), the images on which palette
   banding is most visible.
2. **Versions of each crop.** ``quantizations_per_crop`` palettes with ``Np`` drawn log-uniformly
   in ``[np_min, np_max]`` by median cut, or by k-means for a ``kmeans_fraction`` of them (k-means
   is ~10x slower, so it runs with 5 Lloyd iterations on <= 16384 sampled colours); each palette is
   applied without dithering and with Floyd–Steinberg (:func:`gif_pipeline.quant.dithering.remap`).
   With probability ``original_fraction`` the unquantized crop is added too (teacher score ~0).
3. **Labels.** ``teacher_score`` = the teacher on the RGB version. The training target ``label``
   equals it, except for Floyd–Steinberg versions, whose target is ``fs_target_factor x
   teacher_score``. The paper does the same ("we lower the target score of dithered images"),
   because the teacher measures false contours, and FS's fine noise still produces some band
   edges that a viewer does not see as bands; the lowered target makes the banding loss of
   DitherNet (Eq. 7-8) point towards dithering. The default 0.5 is our choice (the paper gives no
   value): on the validation photos the teacher already scores FS at about half of no-dither at
   8 colours (0.24 vs 0.50, see :mod:`gif_pipeline.metrics.banding`), so 0.5 widens that gap to
   about 4x without making dithered images look banding-free to the critic.
4. **Split.** By source (all crops and versions of one photo or gradient land in the same split):
   ``val`` when :func:`gif_pipeline.data.images.is_validation` of the source's base name is true, the
   same FarmHash rule that the image pipeline uses, so a photo is in ``val`` here iff it is in
   ``val`` there.

Output (:func:`make_banding_data`): ``OUT/train-00000.tfrecord``, ..., ``OUT/val-00000.tfrecord``
of ``tf.train.Example`` with :data:`FEATURES`, and ``OUT/manifest.json`` (settings, counts, label
statistics, time). Shards are written atomically (temporary file + rename), so a rerun with the same
settings skips the finished ones (a cache, and a resume after a kill); different settings in the
same folder raise :class:`BandingDataError`. Every random choice comes from
``numpy.random.default_rng([seed, crc32(source), crop])``, so the output does not depend on the
number of processes or on which shards were cached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import time
import zlib
from typing import Any, Sequence

import numpy as np
from PIL import Image

from gif_pipeline.errors import GifnetsError

#: Feature spec of one example (see :func:`parse_example`).
FEATURE_NAMES = ("image", "label", "teacher_score", "np", "method", "dither", "source", "filename", "split")
MANIFEST = "manifest.json"
SHARD_SUFFIX = ".tfrecord"
GRADIENT_KINDS = ("linear", "diagonal", "radial")
QUANT_METHODS = ("median-cut", "kmeans")
#: k-means settings for data generation (speed over the last bit of palette quality).
KMEANS_ITERATIONS = 5
KMEANS_MAX_SAMPLES = 16384


class BandingDataError(GifnetsError, ValueError):
    """Bad settings, no sources, or an output folder made with other settings."""


@dataclasses.dataclass(frozen=True)
class BandingDataConfig:
    """Settings of one data set; stored in the manifest and compared on reruns."""

    crop_size: int = 256
    crops_per_image: int = 2
    gradients: int = 300  # synthetic gradient sources (one crop each)
    gradient_noise_fraction: float = 0.5  # share of gradients with mild Gaussian noise
    gradient_noise_max: float = 2.0  # noise std drawn uniformly in [0.5, max] codes
    quantizations_per_crop: int = 2  # palettes per crop, each applied with and without FS
    np_min: int = 4
    np_max: int = 256
    kmeans_fraction: float = 0.25
    original_fraction: float = 0.3  # chance that a crop's unquantized version is added
    fs_target_factor: float = 0.5
    val_fraction: float = 0.2
    crops_per_shard: int = 16
    seed: int = 0

    def __post_init__(self):
        def check_int(name, low):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise BandingDataError(f"{name} must be an integer >= {low}, got {v!r}")

        check_int("crop_size", 16)
        check_int("crops_per_image", 0)
        check_int("gradients", 0)
        check_int("quantizations_per_crop", 0)
        check_int("np_min", 2)
        check_int("np_max", 2)
        check_int("crops_per_shard", 1)
        check_int("seed", 0)
        if not self.np_min <= self.np_max <= 256:
            raise BandingDataError(f"need 2 <= np_min <= np_max <= 256, got {self.np_min}..{self.np_max}")
        for name in ("gradient_noise_fraction", "kmeans_fraction", "original_fraction", "fs_target_factor"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise BandingDataError(f"{name} must be in [0, 1], got {v!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise BandingDataError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.gradient_noise_max < 0.5:
            raise BandingDataError(f"gradient_noise_max must be >= 0.5, got {self.gradient_noise_max!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Unit:
    """One crop to make: a photo crop (``path`` set) or a synthetic gradient (``path`` None)."""

    source: str  # unique name: the photo's path relative to its folder, or gradient_NNNNN
    path: str | None
    crop: int
    split: str


# ------------------------------------------------------------------------------------- images


def _rng(seed: int, source: str, crop: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(source.encode("utf-8")), crop])


def synthetic_gradient(size: int, rng: np.random.Generator, noise_fraction: float = 0.5,
                       noise_max: float = 2.0) -> tuple[np.ndarray, str]:
    """A smooth colour gradient uint8 ``[size, size, 3]`` and its kind (linear/diagonal/radial).

    Linear: nearly horizontal or vertical (angle within 10 degrees of a multiple of 90); diagonal:
    20-70 degrees off the axes; radial: distance from a random centre (possibly outside the image).
    Two colour stops, or three (middle stop at a random position) for a third of them; the
    parameter is eased with a random gamma in [0.6, 1.6]. With probability ``noise_fraction``
    Gaussian noise of std U(0.5, noise_max) codes is added before rounding.
    """
    kind = GRADIENT_KINDS[int(rng.integers(len(GRADIENT_KINDS)))]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    if kind == "radial":
        cy, cx = rng.uniform(-0.3, 1.3, size=2)
        t = np.hypot(yy - cy, xx - cx)
    else:
        base = float(rng.integers(4)) * 90.0
        offset = rng.uniform(-10, 10) if kind == "linear" else rng.choice([-1, 1]) * rng.uniform(20, 70)
        angle = math.radians(base + offset)
        t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    t = t ** rng.uniform(0.6, 1.6)
    stops = 3 if rng.random() < 1 / 3 else 2
    colours = rng.uniform(0, 255, size=(stops, 3))
    positions = [0.0, 1.0] if stops == 2 else [0.0, rng.uniform(0.3, 0.7), 1.0]
    image = np.stack([np.interp(t, positions, colours[:, c]) for c in range(3)], axis=-1)
    if rng.random() < noise_fraction:
        image = image + rng.normal(0.0, rng.uniform(0.5, noise_max), size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), kind


def photo_crop(path: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Short side resized to ``size`` (antialiased bilinear, as GIFnets §4), then a random square crop."""
    from gif_pipeline.io.images import load_image

    rgb = load_image(path, background=(255, 255, 255)).rgb
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        rgb = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR))
    top = int(rng.integers(new_h - size + 1))
    left = int(rng.integers(new_w - size + 1))
    return np.ascontiguousarray(rgb[top:top + size, left:left + size])


def log_uniform_np(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer palette size, log-uniform in ``[low, high]``."""
    value = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
    return int(min(high, max(low, math.floor(value))))


def quantize(rgb: np.ndarray, num_colors: int, method: str, dither: str, seed: int = 0) -> np.ndarray:
    """The RGB image after palette quantization (median cut or k-means) and remapping."""
    from gif_pipeline.quant import dithering, palettes

    if method == "median-cut":
        palette = palettes.median_cut(rgb, num_colors)
    elif method == "kmeans":
        palette = palettes.kmeans(rgb, num_colors, iterations=KMEANS_ITERATIONS, seed=seed,
                                  max_samples=KMEANS_MAX_SAMPLES)
    else:
        raise BandingDataError(f"unknown quantization method {method!r}; choose from {QUANT_METHODS}")
    return palette[dithering.remap(rgb, palette, dither)]


def scored_photo_set(folder: str, palette_sizes: Sequence[int] = (8, 16, 32, 64, 128, 256),
                     max_images: int | None = None, with_cambi: bool = False) -> dict:
    """Median-cut versions of the images in ``folder`` at ``palette_sizes``, without dithering and with FS, scored
    by the teacher (and CAMBI, ``max_log_contrast=5``, with ``with_cambi``).

    Images are resized so the short side is 256 and centre-cropped to 256x256 (CAMBI needs one side >= 216 px).
    Returns numpy arrays ``images [N,256,256,3]``, ``teacher``, ``np``, ``fs`` (bool), ``files`` (and ``cambi``)."""
    from gif_pipeline.data import images as data
    from gif_pipeline.io.images import load_image
    from gif_pipeline.metrics.banding import banding_score

    if with_cambi:
        from gif_pipeline.metrics import cambi
    files = data.list_image_files([folder])[:max_images]
    out = {"images": [], "teacher": [], "np": [], "fs": [], **({"cambi": []} if with_cambi else {})}
    for path in files:
        rgb = load_image(path, background=(255, 255, 255)).rgb
        h, w = rgb.shape[:2]
        s = 256 / min(h, w)
        rgb = np.asarray(Image.fromarray(rgb).resize((max(256, round(w * s)), max(256, round(h * s))),
                                                     Image.Resampling.BILINEAR))
        top, left = (rgb.shape[0] - 256) // 2, (rgb.shape[1] - 256) // 2
        rgb = np.ascontiguousarray(rgb[top:top + 256, left:left + 256])
        for n in palette_sizes:
            for dither in ("none", "fs"):
                q = quantize(rgb, n, "median-cut", dither)
                out["images"].append(q)
                out["teacher"].append(banding_score(q))
                if with_cambi:
                    out["cambi"].append(cambi.cambi(q))
                out["np"].append(n)
                out["fs"].append(dither == "fs")
    result = {k: np.array(v) for k, v in out.items()}
    result["files"] = np.array(files)
    return result


def target_for(teacher_score: float, dither: str, fs_target_factor: float) -> float:
    """The training target: the teacher's score, lowered by ``fs_target_factor`` for FS versions."""
    return float(teacher_score * (fs_target_factor if dither == "fs" else 1.0))


def make_examples(unit: Unit, config: BandingDataConfig) -> list[dict[str, Any]]:
    """All labelled versions of one crop, as dicts with the :data:`FEATURE_NAMES` fields
    (``image`` still a uint8 array)."""
    from gif_pipeline.metrics.banding import banding_score

    rng = _rng(config.seed, unit.source, unit.crop)
    if unit.path is None:
        crop, _ = synthetic_gradient(config.crop_size, rng, config.gradient_noise_fraction,
                                     config.gradient_noise_max)
    else:
        crop = photo_crop(unit.path, config.crop_size, rng)
    versions = []  # (image, np, method, dither)
    if rng.random() < config.original_fraction:
        versions.append((crop, 0, "none", "none"))
    for _ in range(config.quantizations_per_crop):
        n = log_uniform_np(rng, config.np_min, config.np_max)
        method = "kmeans" if rng.random() < config.kmeans_fraction else "median-cut"
        kmeans_seed = int(rng.integers(2**31))
        for dither in ("none", "fs"):
            versions.append((quantize(crop, n, method, dither, kmeans_seed), n, method, dither))
    name = f"{unit.source}#{unit.crop}"
    examples = []
    for image, n, method, dither in versions:
        score = banding_score(image)
        examples.append({"image": image, "label": target_for(score, dither, config.fs_target_factor),
                         "teacher_score": float(score), "np": n, "method": method, "dither": dither,
                         "source": unit.source, "filename": os.path.basename(unit.source),
                         "split": unit.split, "crop": name})
    return examples


# ------------------------------------------------------------------------------------ records


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def serialize(example: dict[str, Any]) -> bytes:
    """A ``tf.train.Example`` with :data:`FEATURE_NAMES` (the image as PNG)."""
    import tensorflow as tf

    def b(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        "image": b(_png(example["image"])),
        "label": tf.train.Feature(float_list=tf.train.FloatList(value=[example["label"]])),
        "teacher_score": tf.train.Feature(float_list=tf.train.FloatList(value=[example["teacher_score"]])),
        "np": tf.train.Feature(int64_list=tf.train.Int64List(value=[example["np"]])),
    }
    for key in ("method", "dither", "source", "filename", "split"):
        feature[key] = b(str(example[key]).encode("utf-8"))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def feature_spec():
    """The ``tf.io.parse_single_example`` spec of the records."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in FEATURE_NAMES}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    spec["teacher_score"] = tf.io.FixedLenFeature([], tf.float32)
    spec["np"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def parse_example(serialized):
    """Parse one record (graph-compatible); ``image`` is decoded to uint8 ``[H, W, 3]``."""
    import tensorflow as tf

    ex = tf.io.parse_single_example(serialized, feature_spec())
    ex["image"] = tf.io.decode_png(ex["image"], channels=3)
    return ex


def read_examples(paths: Sequence[str]) -> list[dict[str, Any]]:
    """All records of some shards as Python dicts (numpy images); for tests and evaluation."""
    import tensorflow as tf

    out = []
    for record in tf.data.TFRecordDataset(list(paths)).map(parse_example):
        out.append({k: (v.numpy().decode("utf-8") if v.dtype == tf.string else v.numpy())
                    for k, v in record.items()})
    return out


def shard_paths(out_dir: str, split: str) -> list[str]:
    """The finished shards of one split, sorted."""
    if not os.path.isdir(out_dir):
        return []
    return sorted(os.path.join(out_dir, f) for f in os.listdir(out_dir)
                  if f.startswith(split + "-") and f.endswith(SHARD_SUFFIX))


# -------------------------------------------------------------------------------------- plan


def list_photos(folders: Sequence[str]) -> list[tuple[str, str]]:
    """``(source name, path)`` of every image under the folders (recursive, sorted). The source
    name is the path relative to its folder, prefixed with the folder's base name."""
    from gif_pipeline.data.images import DataSourceError, list_image_files

    photos = []
    for folder in folders:
        try:
            files = list_image_files([folder])
        except DataSourceError as e:
            raise BandingDataError(str(e)) from e
        root = folder if os.path.isdir(folder) else os.path.dirname(folder)
        prefix = os.path.basename(os.path.normpath(folder))
        photos.extend((f"{prefix}/{os.path.relpath(f, root)}", f) for f in files)
    names = [n for n, _ in photos]
    if len(set(names)) != len(names):
        raise BandingDataError("two image folders give the same source names; pass folders with different names")
    return photos


def plan_units(photos: Sequence[tuple[str, str]], config: BandingDataConfig) -> list[Unit]:
    """Every crop to make, with its split (train first, then val; each in source order)."""
    from gif_pipeline.data.images import is_validation

    sources = [(name, path) for name, path in photos]
    sources += [(f"gradient_{i:05d}", None) for i in range(config.gradients)]
    if not sources:
        raise BandingDataError("no sources: give --images folders with photos, or --gradients > 0")
    val = is_validation([name for name, _ in sources], config.val_fraction)
    units = []
    for split, want in (("train", False), ("val", True)):
        for (name, path), is_val in zip(sources, val):
            if bool(is_val) == want:
                crops = config.crops_per_image if path is not None else 1
                units.extend(Unit(name, path, c, split) for c in range(crops))
    return units


def plan_shards(units: Sequence[Unit], crops_per_shard: int) -> list[tuple[str, list[Unit]]]:
    """Group the units of each split into shards ``(file name, units)``."""
    shards = []
    for split in ("train", "val"):
        mine = [u for u in units if u.split == split]
        for k in range(0, len(mine), crops_per_shard):
            shards.append((f"{split}-{k // crops_per_shard:05d}{SHARD_SUFFIX}", mine[k:k + crops_per_shard]))
    return shards


def _fingerprint(config: BandingDataConfig, shards) -> str:
    text = json.dumps({"config": config.to_dict(),
                       "shards": [(name, [(u.source, u.crop) for u in units]) for name, units in shards]},
                      sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------------ workers


def _init_worker():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised (in-process run): keep its settings
        pass


def write_shard(path: str, units: Sequence[Unit], config: BandingDataConfig) -> dict[str, Any]:
    """Make and write one shard atomically; returns its summary."""
    import tensorflow as tf

    start = time.perf_counter()
    tmp = path + ".tmp"
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for unit in units:
            for example in make_examples(unit, config):
                writer.write(serialize(example))
                count += 1
    os.replace(tmp, path)
    return {"file": os.path.basename(path), "examples": count, "crops": len(units),
            "seconds": round(time.perf_counter() - start, 3)}


def _shard_job(args):
    path, units, config = args
    return write_shard(path, units, config)


def _summarize(out_dir: str) -> dict[str, Any]:
    summary = {}
    for split in ("train", "val"):
        records = [{k: v for k, v in ex.items() if k != "image"} for ex in _read_meta(shard_paths(out_dir, split))]
        labels = np.array([r["label"] for r in records], np.float64)
        summary[split] = {
            "examples": len(records),
            "sources": len({r["source"] for r in records}),
            "label_mean": float(labels.mean()) if len(labels) else None,
            "by_dither": {d: sum(r["dither"] == d for r in records) for d in ("none", "fs")},
            "by_method": {m: sum(r["method"] == m for r in records) for m in ("none",) + QUANT_METHODS},
            "originals": sum(r["np"] == 0 for r in records),
        }
    return summary


def _read_meta(paths):
    import tensorflow as tf

    spec = feature_spec()
    del spec["image"]
    out = []
    for record in tf.data.TFRecordDataset(list(paths)).map(lambda s: tf.io.parse_single_example(s, spec)):
        out.append({k: (v.numpy().decode("utf-8") if v.dtype == tf.string else v.numpy().item())
                    for k, v in record.items()})
    return out


def make_banding_data(out_dir: str, photos: Sequence[tuple[str, str]], config: BandingDataConfig,
                      processes: int = 2, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Write the data set (see the module docstring) and return the manifest.

    Args:
      out_dir: output folder (created).
      photos: ``(source name, path)`` pairs, e.g. from :func:`list_photos`.
      processes: worker processes (``spawn``); 1 runs in this process.
      overwrite: delete shards of an earlier data set with other settings instead of failing.
    """
    if not isinstance(processes, int) or processes < 1:
        raise BandingDataError(f"processes must be a positive integer, got {processes!r}")
    units = plan_units(photos, config)
    shards = plan_shards(units, config.crops_per_shard)
    fingerprint = _fingerprint(config, shards)
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, MANIFEST)
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("fingerprint") != fingerprint:
            if not overwrite:
                raise BandingDataError(
                    f"{out_dir} holds a banding data set made with other settings or sources; "
                    "use another --out, or --overwrite to replace it")
            for split in ("train", "val"):
                for p in shard_paths(out_dir, split):
                    os.remove(p)
    _write_json(manifest_path, {"status": "incomplete", "fingerprint": fingerprint, "config": config.to_dict()})

    todo = [(os.path.join(out_dir, name), list(us), config) for name, us in shards
            if not os.path.exists(os.path.join(out_dir, name))]
    cached = len(shards) - len(todo)
    start = time.perf_counter()
    results = []
    from tqdm import tqdm

    bar = tqdm(total=len(units), initial=len(units) - sum(len(t[1]) for t in todo), unit="crop",
               desc=f"banding data ({cached} of {len(shards)} shards cached)", disable=not progress)
    if todo:
        if processes == 1:
            _init_worker()
            for job in todo:
                results.append(_shard_job(job))
                bar.update(len(job[1]))
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(processes, len(todo)), initializer=_init_worker) as pool:
                for result in pool.imap_unordered(_shard_job, todo):
                    results.append(result)
                    bar.update(result["crops"])
    bar.close()
    elapsed = time.perf_counter() - start
    manifest = {
        "status": "complete",
        "fingerprint": fingerprint,
        "config": config.to_dict(),
        "features": list(FEATURE_NAMES),
        "shards": {"total": len(shards), "cached": cached, "written": len(results)},
        "crops": len(units),
        "photos": len(photos),
        "seconds_this_run": round(elapsed, 2),
        "splits": _summarize(out_dir),
        "label_rule": f"label = teacher_score, x {config.fs_target_factor} for Floyd-Steinberg versions",
    }
    _write_json(manifest_path, manifest)
    return manifest


def _write_json(path: str, data: dict):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)

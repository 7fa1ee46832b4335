"""The tf.data input pipeline of every GIFnets training stage (issue #5).

Sources (any mix, given as strings/paths or :class:`FolderSource` / :class:`TFRecordSource` /
:class:`TFDSSource`):

* image folders, searched recursively for ``.jpg .jpeg .png .webp`` (any letter case; hidden
  files such as macOS ``._x.jpg`` are skipped); a single image file is accepted too;
* TFRecord files (``.tfrecord``, ``.tfrecords``, ``.tfrec``, or a glob) of ``tf.train.Example``
  with the feature spec :data:`TFRECORD_FEATURES`: ``image`` (encoded PNG/JPEG/WebP bytes) and an
  optional ``filename`` used for the train/val split; :func:`write_tfrecords` writes them;
* TFDS ``celeb_a`` (the paper's data set), spelled ``celeb_a:DATA_DIR`` (or ``tfds:NAME:DATA_DIR``),
  read from an already prepared ``DATA_DIR``. Nothing is ever downloaded.

Preprocessing (GIFnets §4): decode in the graph, resize so the short side is ``image_size`` keeping the
aspect ratio (bilinear, antialiased), then a random ``image_size``² crop for training or the centre
crop for evaluation. Images come out as float32 in [-1, 1] (``x / 127.5 - 1``), shape
``[batch, image_size, image_size, 3]``.

Train/val split (80/20): a file belongs to ``val`` when
``tf.strings.to_hash_bucket_fast(basename, 10000) < 10000 * val_fraction``. That is FarmHash
Fingerprint64 of the file's base name, which TensorFlow guarantees to be stable across runs, processes
and machines. For folders it is computed eagerly in Python before the dataset is built (so an empty
split can be detected); for TFRecords the same function runs inside the graph on the ``filename``
feature (on the encoded image bytes when a record has no filename). TFDS data sets keep their own
partition: ``train`` -> TFDS ``train``, ``val`` -> ``validation+test`` (for CelebA that is the official
162,770 / 39,829 partition, i.e. 80.3 / 19.7 %).

Augmentations are ``tf.image`` stateless random ops inside the graph, each with its own flag in
:class:`DataConfig`: PaletteNet (``augment='palette'``): Gaussian noise (σ 0.1, added in the [-1, 1]
network scale), random hue (max delta 0.4), random contrast (factor in [1/3, 3]); DitherNet
(``augment='dither'``): random saturation and hue; flips for both. Results are clipped to [-1, 1].

Determinism: every random op (shuffles, crops, augmentations) is seeded from ``DataConfig.seed``;
per-image seeds are ``fold_in(seed, running image index)``, and ``tf.data.Options.deterministic`` is
set, so two pipelines with the same seed give identical batches. Without a seed a random seed is drawn
and logged.

Distributed training: the dataset yields global batches; ``tf.distribute`` splits them. Under
``multi_worker`` it is sharded by element (``AutoShardPolicy.DATA``), which needs the same ``seed`` on
every worker (pass ``--seed``).

Unreadable images: the pipeline fails (it never skips data silently). Bytes that are not a JPEG, PNG,
WebP, GIF or BMP stop it with an ``InvalidArgumentError`` naming the file; a corrupt file with a valid
header stops it with TensorFlow's decoder error. ``DataConfig(skip_corrupt=True)`` instead drops such
images with one logged warning each (``Dataset.ignore_errors(log_warning=True)``).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import random
from typing import Any, Iterable, Sequence, Union

import numpy as np
import tensorflow as tf
from absl import logging

from gif_pipeline.errors import GifnetsError, OutputExistsError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
TFRECORD_EXTENSIONS = (".tfrecord", ".tfrecords", ".tfrec")

#: The TFRecord feature spec read by the pipeline and written by :func:`write_tfrecords`.
TFRECORD_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),  # encoded PNG / JPEG / WebP bytes
    "filename": tf.io.FixedLenFeature([], tf.string, default_value=""),  # base name, for the split
}

SPLITS = ("train", "val", "all")
AUGMENTATIONS = (None, "palette", "dither", "flip")
_HASH_BUCKETS = 10000


class DataSourceError(GifnetsError, ValueError):
    """A data source is missing, empty, of an unknown kind, or cannot be read."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Input pipeline settings; defaults follow the GIFnets paper and its supplement.

    The contrast lower bound and the DitherNet saturation/hue ranges are not given in the paper;
    the defaults here are our choices (contrast factor symmetric in log scale around 1).
    """

    image_size: int = 256  # short side after resizing, and the square crop size
    batch_size: int = 4  # DitherNet's batch in the supplement
    shuffle_buffer: int = 1024  # records (encoded bytes, or decoded images when cached)
    seed: int | None = None
    cache: Union[bool, str] = False  # True: in memory; a str: a cache file prefix (kept across runs)
    val_fraction: float = 0.2  # the 80/20 split
    skip_corrupt: bool = False  # drop undecodable images with a logged warning instead of failing
    # PaletteNet augmentation (augment='palette')
    random_noise: bool = True
    noise_stddev: float = 0.1
    random_hue: bool = True
    hue_max_delta: float = 0.4
    random_contrast: bool = True
    contrast_lower: float = 1.0 / 3.0
    contrast_upper: float = 3.0
    # DitherNet augmentation (augment='dither')
    random_saturation: bool = True
    saturation_lower: float = 0.5
    saturation_upper: float = 1.5
    dither_random_hue: bool = True
    dither_hue_max_delta: float = 0.1
    # Geometric augmentation (any augment mode)
    flip_left_right: bool = True
    flip_up_down: bool = False

    def __post_init__(self):
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"DataConfig.{name} must be a positive integer, got {v!r}")

        positive_int("image_size")
        positive_int("batch_size")
        positive_int("shuffle_buffer")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError(f"DataConfig.seed must be an integer or None, got {self.seed!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"DataConfig.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.noise_stddev < 0:
            raise ValueError(f"DataConfig.noise_stddev must be >= 0, got {self.noise_stddev!r}")
        for name in ("hue_max_delta", "dither_hue_max_delta"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"DataConfig.{name} must be in [0, 0.5], got {getattr(self, name)!r}")
        for lo, hi in (("contrast_lower", "contrast_upper"), ("saturation_lower", "saturation_upper")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not 0.0 <= a < b:
                raise ValueError(f"DataConfig needs 0 <= {lo} < {hi}, got {a!r} and {b!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown DataConfig fields: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "DataConfig":
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------- sources


@dataclasses.dataclass(frozen=True)
class FolderSource:
    """Image folders (searched recursively) and/or single image files."""

    paths: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TFRecordSource:
    """TFRecord files of ``tf.train.Example`` with :data:`TFRECORD_FEATURES`."""

    files: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TFDSSource:
    """A prepared TFDS data set (default: ``celeb_a``) in ``data_dir``; never downloads."""

    data_dir: str
    name: str = "celeb_a"
    image_key: str = "image"
    train_split: str = "train"
    val_split: str = "validation+test"


Source = Union[str, os.PathLike, FolderSource, TFRecordSource, TFDSSource]


def default_sources() -> list[str]:
    """The sample images shipped in ``gif_pipeline/samples`` (used when no ``--data`` is given)."""
    from importlib import resources

    folder = resources.files("gif_pipeline") / "samples"
    paths = sorted(str(p) for p in folder.iterdir() if p.name.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise DataSourceError(f"no sample images found in {folder}; is the package installed completely?")
    logging.info("No --data given: using the %d sample images embedded in the package (%s). "
                 "They only show that training runs; train on real data with --data.", len(paths), folder)
    return paths


def parse_source(spec: Source) -> Union[FolderSource, TFRecordSource, TFDSSource]:
    """Turn a ``--data`` value into a source object.

    ``celeb_a:DIR`` / ``tfds:NAME:DIR`` -> :class:`TFDSSource`; a folder or an image file ->
    :class:`FolderSource`; a ``.tfrecord``/``.tfrecords``/``.tfrec`` file or a glob of them ->
    :class:`TFRecordSource`.
    """
    if isinstance(spec, (FolderSource, TFRecordSource, TFDSSource)):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise DataSourceError(f"a data source must be a path or a source object, got {spec!r}")
    text = os.fspath(spec)
    if text.startswith("celeb_a:"):
        data_dir = text[len("celeb_a:"):]
        if not data_dir:
            raise DataSourceError(f"expected celeb_a:DATA_DIR, got {text!r}")
        return TFDSSource(data_dir=data_dir)
    if text.startswith("tfds:"):
        name, sep, data_dir = text[len("tfds:"):].partition(":")
        if not name or not sep or not data_dir:
            raise DataSourceError(f"expected tfds:NAME:DATA_DIR, got {text!r}")
        return TFDSSource(data_dir=data_dir, name=name)
    if glob.has_magic(text):
        matches = sorted(glob.glob(text))
        if not matches:
            raise DataSourceError(f"no files match {text!r}")
        if all(m.lower().endswith(TFRECORD_EXTENSIONS) for m in matches):
            return TFRecordSource(tuple(matches))
        return FolderSource(tuple(matches))
    if not os.path.exists(text):
        raise DataSourceError(f"data source does not exist: {text}")
    if os.path.isdir(text):
        return FolderSource((text,))
    lower = text.lower()
    if lower.endswith(TFRECORD_EXTENSIONS):
        return TFRecordSource((text,))
    if lower.endswith(IMAGE_EXTENSIONS):
        return FolderSource((text,))
    raise DataSourceError(f"unsupported data source {text}: expected a folder, an image "
                          f"({', '.join(IMAGE_EXTENSIONS)}), a TFRecord file ({', '.join(TFRECORD_EXTENSIONS)}) "
                          "or celeb_a:DATA_DIR")


def list_image_files(paths: Iterable[Union[str, os.PathLike]]) -> list[str]:
    """All images under the given folders (recursive, sorted) plus any image files given directly.

    Raises :class:`DataSourceError` for a missing path or a folder without images (naming it).
    """
    found: list[str] = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise DataSourceError(f"data source does not exist: {path}")
        if os.path.isfile(path):
            if not path.lower().endswith(IMAGE_EXTENSIONS):
                raise DataSourceError(f"not an image file ({', '.join(IMAGE_EXTENSIONS)}): {path}")
            found.append(path)
            continue
        in_folder = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            in_folder.extend(os.path.join(root, f) for f in files
                             if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
        if not in_folder:
            raise DataSourceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in folder {path}")
        found.extend(sorted(in_folder))
    return found


# ------------------------------------------------------------------------------------------- split


def _basename(names: tf.Tensor) -> tf.Tensor:
    return tf.strings.regex_replace(names, r"^.*[/\\]", "")


def _is_val_tensor(keys: tf.Tensor, val_fraction: float) -> tf.Tensor:
    """In-graph split rule on already-reduced keys (base names): FarmHash Fingerprint64 buckets."""
    threshold = int(round(val_fraction * _HASH_BUCKETS))
    return tf.strings.to_hash_bucket_fast(keys, _HASH_BUCKETS) < threshold


def is_validation(names: Sequence[str], val_fraction: float = 0.2) -> np.ndarray:
    """Whether each file (by base name) belongs to the validation split; stable across machines."""
    if len(names) == 0:
        return np.zeros([0], bool)
    keys = tf.constant([os.path.basename(os.fspath(n)) for n in names])
    return _is_val_tensor(keys, val_fraction).numpy()


def split_files(files: Sequence[str], split: str, val_fraction: float = 0.2) -> list[str]:
    """The files of one split; falls back to all files (with a warning) if that split would be empty."""
    _check_split(split)
    if split == "all":
        return list(files)
    val = is_validation(files, val_fraction)
    chosen = [f for f, v in zip(files, val) if v == (split == "val")]
    if not chosen and files:
        logging.warning("The %s split of these %d images is empty (the 80/20 hash split needs more images); "
                        "using all of them for both train and val.", split, len(files))
        return list(files)
    return chosen


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


# --------------------------------------------------------------------------------------- TFRecords


def write_tfrecords(images, path: Union[str, os.PathLike], filenames: Sequence[str] | None = None,
                    force: bool = False) -> int:
    """Write images as ``tf.train.Example`` records with :data:`TFRECORD_FEATURES`; returns the count.

    ``images`` holds uint8 ``[H, W, 3]`` arrays (stored as PNG), encoded image bytes (stored as
    they are), or image file paths (their bytes are stored and their base name is the filename).
    ``filenames`` (optional) are the names used for the train/val split; generated as
    ``image_000000.png`` ... when missing for arrays.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path} exists (pass force=True to overwrite)")
    images = list(images)
    if filenames is not None and len(filenames) != len(images):
        raise ValueError(f"got {len(filenames)} filenames for {len(images)} images")
    tmp = path + ".tmp"
    with tf.io.TFRecordWriter(tmp) as writer:
        for i, item in enumerate(images):
            if isinstance(item, (str, os.PathLike)):
                with open(item, "rb") as f:
                    data = f.read()
                name = os.path.basename(os.fspath(item))
            elif isinstance(item, (bytes, bytearray)):
                data, name = bytes(item), ""
            else:
                array = np.asarray(item)
                if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
                    raise ValueError(f"image {i}: expected uint8 [H, W, 3], got {array.dtype} {array.shape}")
                data, name = tf.io.encode_png(array).numpy(), f"image_{i:06d}.png"
            if filenames is not None:
                name = os.path.basename(os.fspath(filenames[i]))
            example = tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                "filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode("utf-8")])),
            }))
            writer.write(example.SerializeToString())
    os.replace(tmp, path)
    return len(images)


# -------------------------------------------------------------------------------- record streams
# Each stream yields (name, encoded image bytes) for one split; ``name`` is only used in messages.


def _folder_stream(files: list[str], shuffle: bool, seed: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
    if shuffle:  # a full shuffle of the file names is cheap; files are read after it
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return ds.map(lambda p: (p, tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE)


def _tfrecord_stream(files: list[str], split: str, config: DataConfig, shuffle: bool, seed: int):
    for f in files:
        if not os.path.isfile(f):
            raise DataSourceError(f"TFRecord file does not exist: {f}")
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                       num_parallel_calls=tf.data.AUTOTUNE)

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, TFRECORD_FEATURES)
        name = tf.where(tf.strings.length(ex["filename"]) > 0, ex["filename"], tf.constant("<tfrecord>"))
        return name, ex["image"], ex["filename"]

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if split != "all":
        want_val = split == "val"

        def keep(name, data, filename):
            key = tf.where(tf.strings.length(filename) > 0, _basename(filename), data)
            return tf.equal(_is_val_tensor(key, config.val_fraction), want_val)

        ds = ds.filter(keep)
    ds = ds.map(lambda name, data, filename: (name, data))
    if shuffle:
        ds = ds.shuffle(config.shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    return ds


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # also raised when its dependency importlib_resources is missing
        raise DataSourceError(
            "reading TFDS data sets (celeb_a:DATA_DIR) needs tensorflow-datasets: "
            "pip install 'gifnets[tfds]' (or: pip install tensorflow-datasets importlib_resources); "
            f"import failed with: {e}") from e
    return tfds


def _tfds_stream(source: TFDSSource, split: str, config: DataConfig, shuffle: bool, seed: int):
    tfds = _import_tfds()
    tfds_split = {"train": source.train_split, "val": source.val_split,
                  "all": f"{source.train_split}+{source.val_split}"}[split]
    try:
        builder = tfds.builder(source.name, data_dir=source.data_dir)
        ds = builder.as_dataset(split=tfds_split, shuffle_files=shuffle,
                                decoders={source.image_key: tfds.decode.SkipDecoding()},
                                read_config=tfds.ReadConfig(shuffle_seed=seed))
    except (AssertionError, ValueError, OSError, tfds.core.registered.DatasetNotFoundError) as e:
        raise DataSourceError(
            f"TFDS data set {source.name!r} (split {tfds_split!r}) is not available in {source.data_dir}: {e}. "
            f"Prepare it there first (e.g. `tfds build {source.name} --data_dir {source.data_dir}`); "
            "gifnets never downloads data.") from e
    name = tf.constant(f"{source.name}:{source.data_dir}")
    ds = ds.map(lambda ex: (name, ex[source.image_key]), num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(config.shuffle_buffer, seed=seed + 2, reshuffle_each_iteration=True)
    return ds


# ---------------------------------------------------------------------------------- preprocessing

# Magic numbers of the formats tf.io.decode_image reads.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")


def _looks_like_image(data: tf.Tensor) -> tf.Tensor:
    checks = [tf.strings.substr(data, 0, len(m)) == m for m in _MAGIC]
    checks.append(tf.logical_and(tf.strings.substr(data, 0, 4) == b"RIFF",
                                 tf.strings.substr(data, 8, 4) == b"WEBP"))
    return tf.reduce_any(tf.stack(checks))


def decode_and_resize(name: tf.Tensor, data: tf.Tensor, image_size: int) -> tf.Tensor:
    """Decode any JPEG/PNG/WebP to RGB and resize its short side to ``image_size`` -> uint8 [h, w, 3]."""
    ok = tf.debugging.Assert(_looks_like_image(data),
                             ["not a JPEG, PNG, WebP, GIF or BMP image:", name], summarize=1)
    with tf.control_dependencies([ok]):
        image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return resize_short_side(image, image_size)


def resize_short_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resize so the short side is ``size``, keeping the aspect ratio (GIFnets §4); uint8 in and out."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    scale = size / tf.minimum(h, w)
    new_h = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))

    def resize():
        out = tf.image.resize(image, tf.stack([new_h, new_w]), method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    same = tf.logical_and(tf.equal(new_h, shape[0]), tf.equal(new_w, shape[1]))
    return tf.cond(same, lambda: image, resize)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central ``size``² window (evaluation crop)."""
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    return image[top:top + size, left:left + size, :]


def _op_seed(seed: tf.Tensor, k: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, k)


def augment_image(x01: tf.Tensor, seed: tf.Tensor, config: DataConfig, augment: str | None) -> tf.Tensor:
    """Augment one float image in [0, 1] with stateless ops; returns float32 in [-1, 1].

    ``seed`` is a shape-[2] int tensor; each op gets ``fold_in(seed, k)`` for its own k.
    """
    if augment is not None:
        if config.flip_left_right:
            x01 = tf.image.stateless_random_flip_left_right(x01, _op_seed(seed, 1))
        if config.flip_up_down:
            x01 = tf.image.stateless_random_flip_up_down(x01, _op_seed(seed, 2))
    if augment == "palette":
        if config.random_hue and config.hue_max_delta > 0:
            x01 = tf.image.stateless_random_hue(x01, config.hue_max_delta, _op_seed(seed, 3))
        if config.random_contrast:
            x01 = tf.image.stateless_random_contrast(x01, config.contrast_lower, config.contrast_upper,
                                                     _op_seed(seed, 4))
    elif augment == "dither":
        if config.random_saturation:
            x01 = tf.image.stateless_random_saturation(x01, config.saturation_lower, config.saturation_upper,
                                                       _op_seed(seed, 5))
        if config.dither_random_hue and config.dither_hue_max_delta > 0:
            x01 = tf.image.stateless_random_hue(x01, config.dither_hue_max_delta, _op_seed(seed, 6))
    x = tf.clip_by_value(x01, 0.0, 1.0) * 2.0 - 1.0  # == pixel / 127.5 - 1
    if augment == "palette" and config.random_noise and config.noise_stddev > 0:
        x = x + config.noise_stddev * tf.random.stateless_normal(tf.shape(x), _op_seed(seed, 7))
    return tf.clip_by_value(x, -1.0, 1.0)


# ---------------------------------------------------------------------------------------- builder


def _streams(sources, split, config, shuffle, seed):
    parsed = [parse_source(s) for s in sources]
    folder_paths = [p for s in parsed if isinstance(s, FolderSource) for p in s.paths]
    record_files = [f for s in parsed if isinstance(s, TFRecordSource) for f in s.files]
    streams = []
    if folder_paths:
        files = split_files(list_image_files(folder_paths), split, config.val_fraction)
        logging.info("%s split: %d images from %d folder/file argument(s) (%s%s)", split, len(files),
                     len(folder_paths), ", ".join(map(str, folder_paths[:2])), " ..." if len(folder_paths) > 2 else "")
        streams.append(_folder_stream(files, shuffle, seed))
    if record_files:
        streams.append(_tfrecord_stream(record_files, split, config, shuffle, seed))
    for s in parsed:
        if isinstance(s, TFDSSource):
            streams.append(_tfds_stream(s, split, config, shuffle, seed))
    return streams


def build_dataset(sources: Source | Sequence[Source] | None = None, config: DataConfig = DataConfig(),
                  split: str = "train", augment: str | None = None, repeat: bool | int | None = None, *,
                  shuffle: bool | None = None, random_crop: bool | None = None,
                  drop_remainder: bool | None = None, batch: bool = True) -> tf.data.Dataset:
    """Batches of float32 images in [-1, 1], shape ``[config.batch_size, S, S, 3]`` (S = image_size).

    Args:
      sources: paths/specs (see :func:`parse_source`) or source objects; ``None`` uses
        :func:`default_sources` (the embedded samples).
      split: ``'train'`` (80 %), ``'val'`` (20 %) or ``'all'``.
      augment: ``None``, ``'palette'`` (noise, hue, contrast, flips), ``'dither'`` (saturation, hue,
        flips) or ``'flip'`` (flips only).
      repeat: ``True`` forever, an int for that many epochs, ``False`` for one pass. Default: forever
        for ``'train'``, once otherwise.
      shuffle, random_crop, drop_remainder: default to ``split == 'train'``; otherwise data comes in
        file order and the centre crop is used.
      batch: ``False`` yields single images ``[S, S, 3]``.
    """
    _check_split(split)
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
    training = split == "train"
    shuffle = training if shuffle is None else shuffle
    random_crop = training if random_crop is None else random_crop
    drop_remainder = training if drop_remainder is None else drop_remainder
    repeat = training if repeat is None else repeat
    if not isinstance(repeat, bool) and (not isinstance(repeat, int) or repeat < 1):
        raise ValueError(f"repeat must be a bool or a positive int, got {repeat!r}")
    if sources is None:
        sources = default_sources()
    elif isinstance(sources, (str, os.PathLike, FolderSource, TFRecordSource, TFDSSource)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise DataSourceError("no data sources given")

    if config.seed is None:
        seed = random.SystemRandom().randrange(2**31 - 3)
        logging.info("No seed given: the data pipeline uses seed %d (not repeatable unless passed).", seed)
    else:
        seed = config.seed % (2**31 - 3)
    size = config.image_size

    cached = bool(config.cache)
    streams = _streams(sources, split, config, shuffle and not cached, seed)
    if len(streams) == 1:
        ds = streams[0]
    elif shuffle and not cached:
        ds = tf.data.Dataset.sample_from_datasets(streams, seed=seed + 3, stop_on_empty_dataset=False)
    else:
        ds = streams[0]
        for other in streams[1:]:
            ds = ds.concatenate(other)

    decode = tf.autograph.experimental.do_not_convert(lambda name, data: decode_and_resize(name, data, size))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if config.skip_corrupt:
        ds = ds.ignore_errors(log_warning=True)
    if cached:
        # One cache file set per split and size, so train and val never share one. A file cache
        # outlives the run: delete it when the sources change.
        ds = ds.cache(f"{config.cache}.{split}.{size}" if isinstance(config.cache, str) else "")
        if shuffle:
            ds = ds.shuffle(config.shuffle_buffer, seed=seed + 4, reshuffle_each_iteration=True)
    if repeat is True:
        ds = ds.repeat()
    elif repeat is not False:
        ds = ds.repeat(repeat)

    base_seed = tf.constant([seed, 0x6D1F], tf.int64)

    @tf.autograph.experimental.do_not_convert  # plain Python conditionals only: skip AutoGraph
    def finish(index, image):
        image_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
        if random_crop:
            image = tf.image.stateless_random_crop(image, [size, size, 3], _op_seed(image_seed, 0))
        else:
            image = center_crop(image, size)
        x01 = tf.cast(image, tf.float32) / 255.0
        out = augment_image(x01, image_seed, config, augment)
        out.set_shape([size, size, 3])
        return out

    ds = ds.enumerate().map(finish, num_parallel_calls=tf.data.AUTOTUNE)
    if batch:
        ds = ds.batch(config.batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = config.seed is not None
    # Multi-worker training: every worker builds the same pipeline and keeps every N-th element.
    # The streams are only identical (so the shards disjoint) when all workers get the same seed.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)

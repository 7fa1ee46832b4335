"""Export the GIFnets encoder to TFLite (LiteRT) for Android, and run it with ``ai-edge-litert``.

The TFLite model holds the same graph as the SavedModel (see :mod:`export.export_saved_model`):
signature ``serving_default``, input ``image`` uint8 ``[1, S, S, 3]``, outputs ``indices`` uint8
``[1, S, S]`` and ``palette`` uint8 ``[1, Np, 3]``, with ``palette[indices]`` the decoded GIF.

Variants (:data:`VARIANTS`):

* ``float32`` — reference; reproduces the SavedModel (>= 99.9 % identical indices, tested);
* ``float16`` — float16 weights, float32 compute;
* ``dynamic_int8`` — int8 weights, float activations (dynamic-range quantization);
* ``full_int8`` — int8 weights and activations everywhere the converter can (calibrated on images
  from :func:`gif_pipeline.data.images.build_dataset`), the projection's distances and argmin included;
* ``int8_float_projection`` — like ``full_int8`` but the projection (distances, argmin, gather,
  Lloyd sums) stays float32: int8 distances make many argmin ties and change the GIF.

Only builtin ops are used (``TFLITE_BUILTINS``; ``SELECT_TF_OPS`` is never enabled and conversion
fails rather than falling back to Flex ops).

Input size: fixed (``--size=256`` by default). On a fixed-size model
``Interpreter.resize_tensor_input`` does *not* work: the converter folds the image size into
RESHAPE shapes and ``allocate_tensors`` fails ("num_input_elements != num_output_elements").
``--size=dynamic`` exports ``[1, -1, -1, 3]``, where ``resize_tensor_input`` (and the signature
runner's automatic resize) work for any H, W >= 1; it projects the whole image at once (memory
``H*W*Np`` floats) because the row-chunked projection needs TensorArray ops that are not builtin.

Usage::

    python -m export.export_tflite --np=16 --out=exported/tflite --size=256 --variants=float32,full_int8
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

from export.export_saved_model import (
    INPUT_NAME,
    SERVING_SIGNATURE,
    EncoderBundle,
    ExportError,
    add_model_arguments,
    bundle_from_args,
    save_encoder,
)
from gif_pipeline.errors import GifnetsError

VARIANTS = ("float32", "float16", "dynamic_int8", "full_int8", "int8_float_projection")
DEFAULT_SIZE = 256
# TFLite builtin op types of the projection and Lloyd steps, kept float in int8_float_projection.
PROJECTION_OPS = ("BATCH_MATMUL", "ARG_MIN", "ARG_MAX", "REDUCE_MAX", "UNSORTED_SEGMENT_SUM", "SUM",
                  "SQUARED_DIFFERENCE", "SQUARE", "MUL", "SUB", "ADD", "GATHER", "ONE_HOT", "DIV", "MAXIMUM",
                  "SELECT_V2", "GREATER")

log = logging.getLogger("gifnets.export")


def parse_size(text) -> int | None:
    """``'256'`` -> 256; ``'dynamic'`` (or 0) -> None (any size)."""
    if text is None or str(text).lower() in ("dynamic", "0", "none"):
        return None
    try:
        size = int(text)
    except ValueError:
        raise ExportError(f"size must be a positive integer or 'dynamic', got {text!r}") from None
    if size < 1:
        raise ExportError(f"size must be a positive integer or 'dynamic', got {text!r}")
    return size


def input_shape(size: int | None) -> tuple:
    return (1, size, size, 3)


# ------------------------------------------------------------------------------- calibration data


def representative_images(sources=None, size: int = DEFAULT_SIZE, samples: int = 8, split: str = "train",
                          seed: int = 0) -> list[np.ndarray]:
    """Up to ``samples`` uint8 ``[1, size, size, 3]`` images from the data pipeline (centre crops,
    no augmentation, file order), for full-integer calibration and for comparisons.

    ``sources`` as for :func:`gif_pipeline.data.images.build_dataset` (None: the package's samples).
    """
    from gif_pipeline.data.images import DataConfig, build_dataset

    if samples < 1:
        raise ExportError(f"samples must be >= 1, got {samples}")
    config = DataConfig(image_size=size, batch_size=1, seed=seed)
    ds = build_dataset(sources, config, split=split, augment=None, repeat=False, shuffle=False, random_crop=False,
                       drop_remainder=False)
    images = [np.clip(np.rint((b.numpy() + 1.0) * 127.5), 0, 255).astype(np.uint8) for b in ds.take(samples)]
    if not images:
        raise ExportError(f"the {split} split of the calibration data is empty")
    return images


# ------------------------------------------------------------------------------------- conversion


def _converter(saved_model_dir: str):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SERVING_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # never SELECT_TF_OPS
    return converter


def convert(saved_model_dir: str, variant: str, representative: list[np.ndarray] | None = None) -> bytes:
    """Convert a fixed- or dynamic-size encoder SavedModel (``serving_default`` only) to TFLite."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ExportError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant in ("full_int8", "int8_float_projection") and not representative:
        raise ExportError(f"{variant} needs calibration images (a representative dataset)")
    converter = _converter(saved_model_dir)

    def dataset():
        for image in representative:
            yield {INPUT_NAME: image}

    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant in ("full_int8", "int8_float_projection"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
    try:
        # TF's own calibration and quantization debugger still use the deprecated tf.lite.Interpreter.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
            if variant == "full_int8":
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                return converter.convert()
            if variant == "int8_float_projection":
                options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(PROJECTION_OPS))
                debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                                     debug_options=options)
                return debugger.get_nondebug_quantized_model()
            return converter.convert()
    except Exception as e:  # the converter raises ConverterError and friends with long MLIR dumps
        raise ExportError(f"TFLite conversion ({variant}) failed: {str(e).strip().splitlines()[-1][:500]}") from e


def op_summary(model: bytes | str) -> collections.Counter:
    """``Counter`` of ``(op name, output dtype)`` of a TFLite model (before delegation)."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": model}
    interpreter = Interpreter(**kwargs, experimental_preserve_all_tensors=False,
                              experimental_op_resolver_type=_no_delegate_resolver())
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    out = collections.Counter()
    for op in interpreter._get_ops_details():
        dtype = tensors[op["outputs"][0]]["dtype"].__name__ if len(op["outputs"]) else "-"
        out[(op["op_name"], dtype)] += 1
    return out


def _no_delegate_resolver():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def non_builtin_ops(model: bytes | str) -> list[str]:
    """Names of Flex (SELECT_TF_OPS) or custom ops in the model; empty for builtin-only models."""
    return sorted({name for name, _ in op_summary(model) if name.startswith("Flex") or name == "CUSTOM"})


# ----------------------------------------------------------------------------------------- running


class TFLiteEncoder:
    """Runs an exported encoder with the LiteRT interpreter (XNNPACK by default).

    ``encode(rgb)`` takes uint8 ``[H, W, 3]`` and returns ``(indices uint8 [H, W], palette uint8
    [Np, 3])``. A fixed-size model needs ``H, W`` equal to its input size.
    """

    def __init__(self, model: bytes | str, num_threads: int = 1, use_xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": model}
        if not use_xnnpack:
            kwargs["experimental_op_resolver_type"] = _no_delegate_resolver()
        self.interpreter = Interpreter(**kwargs, num_threads=num_threads)
        signatures = self.interpreter.get_signature_list()
        if SERVING_SIGNATURE not in signatures:
            raise ExportError(f"{model if isinstance(model, str) else 'model'} has no {SERVING_SIGNATURE!r} "
                              f"signature (has {sorted(signatures)})")
        self.runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        details = self.runner.get_input_details()[INPUT_NAME]
        signature = [int(d) for d in details["shape_signature"]]
        self.input_size = None if -1 in signature[1:3] else (signature[1], signature[2])

    def encode(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"expected a uint8 image [H, W, 3], got {rgb.dtype} {rgb.shape}")
        if self.input_size is not None and rgb.shape[:2] != self.input_size:
            raise ValueError(f"this TFLite model takes {self.input_size[0]}x{self.input_size[1]} images, got "
                             f"{rgb.shape[0]}x{rgb.shape[1]} (resize first, or export with --size=dynamic)")
        out = self.runner(**{INPUT_NAME: np.ascontiguousarray(rgb[np.newaxis])})
        return out["indices"][0], out["palette"][0]


def resize_tensor_input_works(model: bytes | str, height: int, width: int) -> tuple[bool, str]:
    """Try ``resize_tensor_input`` to ``[1, height, width, 3]`` + ``allocate_tensors`` + ``invoke``.

    Returns ``(works, message)``: works only if the outputs come back with the new size.
    """
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": model}
    interpreter = Interpreter(**kwargs)
    detail = interpreter.get_input_details()[0]
    try:
        interpreter.resize_tensor_input(detail["index"], [1, height, width, 3])
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], np.zeros([1, height, width, 3], np.uint8))
        interpreter.invoke()
    except (RuntimeError, ValueError) as e:
        return False, " ".join(str(e).split())[:300]
    shapes = {d["name"]: tuple(interpreter.get_tensor(d["index"]).shape) for d in interpreter.get_output_details()}
    if (1, height, width) not in shapes.values():
        return False, f"ran, but the outputs have shapes {shapes}"
    return True, f"outputs {sorted(shapes.values())}"


# ------------------------------------------------------------------------------------- comparison


@dataclasses.dataclass
class Agreement:
    """TFLite vs. SavedModel on a set of images."""

    identical_indices: float  # fraction of pixels whose index is the same
    identical_palettes: float  # fraction of images whose uint8 palette is identical
    psnr_reference: float  # mean PSNR of the SavedModel's GIF against the input (dB)
    psnr_tflite: float  # mean PSNR of the TFLite GIF against the input (dB)

    @property
    def psnr_delta(self) -> float:
        return self.psnr_tflite - self.psnr_reference


def compare(reference, encoder: TFLiteEncoder, images) -> Agreement:
    """Compare ``encoder`` with ``reference`` (a ``serving_default`` function of a loaded SavedModel,
    or anything returning ``{"indices", "palette"}`` for a uint8 ``[1, H, W, 3]`` batch)."""
    import tensorflow as tf

    from gif_pipeline.metrics.image import psnr

    same, total, same_palettes, ref_psnr, lite_psnr = 0, 0, 0, [], []
    for image in images:
        image = np.asarray(image)
        rgb = image[0] if image.ndim == 4 else image
        out = reference(**{INPUT_NAME: tf.constant(rgb[np.newaxis])})
        ref_idx, ref_pal = out["indices"].numpy()[0], out["palette"].numpy()[0]
        idx, pal = encoder.encode(rgb)
        same += int(np.sum(idx == ref_idx))
        total += idx.size
        same_palettes += int(np.array_equal(pal, ref_pal))
        ref_psnr.append(psnr(rgb, ref_pal[ref_idx]))
        lite_psnr.append(psnr(rgb, pal[idx]))
    if not total:
        raise ValueError("compare needs at least one image")
    return Agreement(same / total, same_palettes / len(ref_psnr), float(np.mean(ref_psnr)), float(np.mean(lite_psnr)))


# ----------------------------------------------------------------------------------------- export


def tflite_filename(name: str, variant: str) -> str:
    return f"{name}_{variant}.tflite"


def export_tflite(bundle: EncoderBundle, out_dir: str, size: int | None = DEFAULT_SIZE, variants=VARIANTS,
                  calibration: list[np.ndarray] | None = None, name: str = "gifnets",
                  overwrite: bool = False) -> dict[str, str]:
    """Write one ``.tflite`` per variant to ``out_dir``; returns ``{variant: path}``.

    A fixed-size (``size``) or dynamic-size (``size=None``) SavedModel is written to a temporary
    folder and converted. ``calibration`` (uint8 ``[1, S, S, 3]`` images) is needed by the int8
    variants with activations (see :func:`representative_images`).
    """
    variants = list(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ExportError(f"variants must be a non-empty subset of {VARIANTS}, got {variants}")
    paths = {v: os.path.join(out_dir, tflite_filename(name, v)) for v in variants}
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not overwrite:
        raise ExportError(f"{existing[0]} already exists (pass --overwrite)")
    os.makedirs(out_dir, exist_ok=True)
    manifest = {**bundle.describe(), "signature": SERVING_SIGNATURE, "input": INPUT_NAME,
                "input_shape": [1, size or -1, size or -1, 3], "variants": {}}
    tmp = tempfile.mkdtemp(prefix=".tmp-tflite-", dir=out_dir)
    try:
        saved = os.path.join(tmp, "saved_model")
        save_encoder(bundle, saved, input_shape(size), debug=False, chunked=size is not None)
        for variant in variants:
            data = convert(saved, variant, calibration)
            bad = non_builtin_ops(data)
            if bad:
                raise ExportError(f"{variant}: the model needs non-builtin ops {bad}")
            with open(os.path.join(tmp, "model.tflite"), "wb") as f:
                f.write(data)
            os.replace(os.path.join(tmp, "model.tflite"), paths[variant])
            manifest["variants"][variant] = {"file": os.path.basename(paths[variant]), "bytes": len(data)}
            log.info("wrote %s (%d bytes)", paths[variant], len(data))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(out_dir, f"{name}_tflite.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return paths


# ----------------------------------------------------------------------------------------- CLI


def add_tflite_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default=str(DEFAULT_SIZE),
                   help="fixed input size S (S x S) or 'dynamic' (default: %(default)s)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default: all)")
    p.add_argument("--calibration_data", nargs="*", default=None, metavar="SOURCE",
                   help="image folders/files/TFRecords for full-integer calibration (default: the package samples)")
    p.add_argument("--calibration_samples", type=int, default=8, help="calibration images (default: %(default)s)")
    p.add_argument("--calibration_split", default="train", choices=("train", "val", "all"),
                   help="data split of the calibration images (default: %(default)s)")


def calibration_from_args(args, variants) -> list[np.ndarray] | None:
    if not any(v in ("full_int8", "int8_float_projection") for v in variants):
        return None
    size = parse_size(args.size) or DEFAULT_SIZE  # a dynamic model is calibrated at the default size
    return representative_images(args.calibration_data or None, size, args.calibration_samples,
                                 args.calibration_split, args.seed)


def parse_variants(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ExportError(f"--variants must be a comma-separated subset of {','.join(VARIANTS)}, got {text!r}")
    return variants


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export.export_tflite", description=__doc__.split("\n")[0])
    add_model_arguments(p)
    add_tflite_arguments(p)
    p.add_argument("--name", default="gifnets", help="file name prefix (default: %(default)s)")
    p.add_argument("--out", default="exported/tflite", help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing .tflite files")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        variants = parse_variants(args.variants)
        size = parse_size(args.size)
        bundle = bundle_from_args(args)
        paths = export_tflite(bundle, args.out, size, variants, calibration_from_args(args, variants), args.name,
                              args.overwrite)
    except (GifnetsError, ValueError) as e:
        print(f"export_tflite: error: {e}", file=sys.stderr)
        return 2
    for variant, path in paths.items():
        print(f"{variant:>22}: {path} ({os.path.getsize(path):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

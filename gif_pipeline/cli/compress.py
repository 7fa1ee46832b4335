"""``gifnets compress`` / ``gifnets decompress``: extreme-rate learned image compression (issue #28).

    gifnets compress photo.png -o photo.gcz --bpp 0.036 [--keep x,y,w,h | --mask keep.png] [--mode gan|mse]
    gifnets decompress photo.gcz -o photo.png [--original photo.png]

The model is the installed one (``gif_pipeline/weights/compress_{mode}_c{C}.keras``, else the trainer's output in
``runs/``) or ``--model PATH``. A .gcz file names the model that wrote it (its weights' id), so decompress finds it.
"""
from __future__ import annotations

import argparse

from gif_pipeline.cli import args as cli_args
from gif_pipeline.cli import batch

CHANNELS = (2, 4, 8)


def keep_box(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] < 1 or values[3] < 1 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (non-negative integers, w and h >= 1), got {text!r}")
    return values


def channels_for_bpp(bpp: float) -> int:
    """The C whose rate bound C·log2(5)/256 is nearest to ``bpp`` (0.0181, 0.0363, 0.0726)."""
    import math

    return min(CHANNELS, key=lambda c: abs(math.log(c * math.log2(5) / 256 / bpp)))


def add_parser(sub):
    p = sub.add_parser("compress", help="compress images to tiny .gcz files (GAN compression)",
                       description="Compress images with the GAN image codec of Agustsson et al. (ICCV 2019) to .gcz "
                       "files of about 0.02-0.07 bits per pixel. One input: -o is a file or a folder; several: a folder.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="input images")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bpp", type=cli_args.positive_float, default=None,
                      help="target bits per pixel: picks the model whose bound is nearest (C=2: 0.018, 4: 0.036, 8: 0.073)")
    rate.add_argument("--channels", type=int, choices=CHANNELS, default=None, help="latent channels C (default 4)")
    p.add_argument("--mode", choices=("gan", "mse"), default="gan",
                   help="gan: the GAN codec (synthesizes detail); mse: the MSE baseline (default: %(default)s)")
    region = p.add_mutually_exclusive_group()
    region.add_argument("--keep", type=keep_box, default=None, metavar="x,y,w,h",
                        help="keep only this box (pixels); the rest is synthesized and costs no bits")
    region.add_argument("--mask", default=None, metavar="PNG",
                        help="keep where this mask (the image's size) is non-zero; synthesize elsewhere")
    p.add_argument("--model", default=None, metavar="PATH", help="a compressor .keras file instead of the installed one")
    p.add_argument("--psnr", action="store_true", help="also decode and report the PSNR against the input")
    cli_args.add_output_arguments(p, output_help="output .gcz file or folder")
    p.set_defaults(func=run_compress)

    d = sub.add_parser("decompress", help="decode .gcz files to PNG",
                       description="Decode .gcz files written by `gifnets compress` to PNG images.")
    d.add_argument("inputs", nargs="+", metavar="IN", help="input .gcz files")
    d.add_argument("--model", default=None, metavar="PATH", help="the compressor .keras file that wrote them")
    d.add_argument("--original", default=None, metavar="IMG", help="report the PSNR against this image (one input)")
    cli_args.add_output_arguments(d, output_help="output .png file or folder")
    d.set_defaults(func=run_decompress)


class _Models:
    """Codecs by (mode, C), loaded once per run."""

    def __init__(self, explicit):
        self.explicit, self.cache = explicit, {}

    def get(self, mode: str, channels: int):
        from gif_pipeline.models.compress.codec import Codec
        from gif_pipeline.weights import registry

        key = (mode, channels)
        if key not in self.cache:
            compressor = registry.load(f"compress_{mode}", channels, explicit=self.explicit)
            if self.explicit and compressor.config.channels != channels:
                from gif_pipeline.models.compress.codec import BitstreamError

                raise BitstreamError(f"{self.explicit} has C={compressor.config.channels}, not C={channels}")
            self.cache[key] = Codec(compressor, gan=mode == "gan")
        return self.cache[key]


def _psnr(a, b) -> float:
    from gif_pipeline.metrics.image import psnr

    return round(float(psnr(a, b)), 3)


def _require_codec(what: str, explicit: str | None = None) -> None:
    """MissingPrerequisiteError unless TensorFlow, Keras and constriction import (the codec's networks run on
    TensorFlow, not yet on the LiteRT runtime; constriction is its range coder) and, without ``explicit`` (--model),
    the installed compressors' ``.keras`` files are there (a runtime install has none): one line."""
    from gif_pipeline.errors import MissingPrerequisiteError
    from gif_pipeline.weights import registry

    missing = [] if explicit else registry.missing_keras("compress_mse", "compress_gan")
    try:
        import constriction  # noqa: F401
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        raise MissingPrerequisiteError(f"{what} needs TensorFlow and constriction, which this install lacks: "
                                       'pip install "gifnets[compress]"' + registry.keras_hint(missing)) from None
    if missing:
        raise registry.keras_not_installed(missing, what)


def run_compress(args) -> int:
    _require_codec("gifnets compress", args.model)
    from gif_pipeline.io import files
    from gif_pipeline.io import images as image_io

    outputs = files.plan_outputs(args.inputs, args.output, suffix=".gcz")
    models = _Models(args.model)
    if args.model and not (args.bpp or args.channels):
        from gif_pipeline.weights import registry

        args.channels = int(registry.file_config(args.model).get("channels") or 4)
    channels = args.channels or (channels_for_bpp(args.bpp) if args.bpp else 4)
    mask = None
    if args.mask:
        mask = image_io.load_image(args.mask).rgb.max(axis=-1)

    def process(src, dst):
        rgb = image_io.load_image(src).rgb
        codec = models.get(args.mode, channels)
        data, stats = codec.compress(rgb, box=args.keep, mask=mask)
        files.atomic_write(dst, data, force=args.force, protect=args.inputs)
        out = {"input": src, "output": dst, "mode": args.mode, "channels": channels, "width": rgb.shape[1],
               "height": rgb.shape[0], "bytes": stats.bytes, "bpp": round(stats.bpp, 5),
               "bound_bpp": round(stats.bound_bpp, 5), "paper_bound_bpp": round(stats.bound_full_bpp, 5),
               "ideal_bpp": round(stats.ideal_bpp, 5), "kept": round(stats.kept_fraction, 4)}
        if args.psnr:
            out["psnr"] = _psnr(rgb, codec.decompress(data))
        return out

    def describe(s):
        extra = f", PSNR {s['psnr']:.2f} dB" if "psnr" in s else ""
        return (f"{s['input']} -> {s['output']}: {s['bytes']} bytes, {s['bpp']:.4f} bpp (bound {s['bound_bpp']:.4f}), "
                f"{s['mode']} C={s['channels']}{extra}")

    return batch.run(zip(args.inputs, outputs), process, desc="compressing", quiet=args.quiet, as_json=args.json,
                     describe=describe)


def run_decompress(args) -> int:
    _require_codec("gifnets decompress", args.model)
    import io

    import numpy as np
    from PIL import Image

    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.io import files
    from gif_pipeline.io import images as image_io
    from gif_pipeline.models.compress import codec as gcz

    if args.original and len(args.inputs) > 1:
        raise GifnetsError("--original takes one input")
    outputs = files.plan_outputs(args.inputs, args.output, suffix=".png")
    models = _Models(args.model)
    original = image_io.load_image(args.original).rgb if args.original else None

    def process(src, dst):
        try:
            with open(src, "rb") as f:
                data = f.read()
        except OSError as e:
            raise gcz.BitstreamError(f"{src}: {e.strerror or e}") from None
        try:
            header = gcz.read(data)
            rgb = models.get("gan" if header.gan else "mse", header.channels).decompress(header)
        except GifnetsError as e:
            raise type(e)(f"{src}: {e}") from None
        buf = io.BytesIO()
        Image.fromarray(np.asarray(rgb)).save(buf, format="PNG")
        files.atomic_write(dst, buf.getvalue(), force=args.force, protect=args.inputs)
        out = {"input": src, "output": dst, "width": header.width, "height": header.height, "bytes": len(data),
               "bpp": round(8 * len(data) / (header.width * header.height), 5)}
        if original is not None:
            if original.shape != rgb.shape:
                raise GifnetsError(f"--original is {original.shape[1]}x{original.shape[0]}, the file "
                                   f"{header.width}x{header.height}")
            out["psnr"] = _psnr(original, rgb)
        return out

    def describe(s):
        extra = f", PSNR {s['psnr']:.2f} dB" if "psnr" in s else ""
        return f"{s['input']} -> {s['output']}: {s['width']}x{s['height']}, {s['bytes']} bytes ({s['bpp']:.4f} bpp){extra}"

    return batch.run(zip(args.inputs, outputs), process, desc="decompressing", quiet=args.quiet, as_json=args.json,
                     describe=describe)

"""The ``gifnets`` command line: ``gifnets encode``, ``gifnets bench``.

Exit codes: 0 success, 2 bad input or usage (the other files of a batch are still
encoded), 1 an unexpected internal error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys

from gif_pipeline.errors import GifnetsError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def _colors(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--colors must be an integer in 2..256, got {text!r}") from None
    if not 2 <= value <= 256:
        raise argparse.ArgumentTypeError(f"--colors must be in 2..256 (a GIF palette holds at most 256), got {value}")
    return value


def _rgb(text: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a colour: {text!r} (use e.g. white, #ff8800)") from None


def _alpha(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"--alpha-threshold must be an integer in 0..255, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_encode_parser(sub):
    from gif_pipeline import encode, image_io

    p = sub.add_parser(
        "encode",
        help="turn images into GIFs",
        description="Encode images as GIF89a files. One input: -o is a file or a folder. "
        "Several inputs: -o is a folder (created if needed), each IN becomes NAME.gif.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="input images (JPEG, PNG, WebP, TIFF, BMP, GIF, ...)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif file or folder")
    p.add_argument("--colors", type=_colors, default=256, help="palette size, 2..256 (default: %(default)s)")
    p.add_argument("--palette", choices=["auto"] + sorted(encode.PALETTE_STAGES), default=encode.DEFAULT_PALETTE,
                   help="palette method; net = PaletteNet, net+kmeans = PaletteNet refined by Lloyd "
                   "iterations (default: %(default)s; " + encode.AUTO_HELP + ")")
    p.add_argument("--dither", choices=["auto"] + sorted(encode.DITHER_STAGES), default=encode.DEFAULT_DITHER,
                   help="dithering: none, fs (Floyd-Steinberg) or net (DitherNet) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for k-means (default: %(default)s)")
    p.add_argument("--kmeans-iterations", type=_positive_int, default=None, metavar="N",
                   help="Lloyd iterations of --palette kmeans (default 10) and net+kmeans (default "
                   f"{encode.KMEANS_REFINE_ITERATIONS}, split-merge rounds among them)")
    p.add_argument("--background", type=_rgb, default=None, metavar="COLOR",
                   help="composite transparent pixels onto COLOR instead of keeping GIF transparency")
    p.add_argument("--alpha-threshold", type=_alpha, default=128, metavar="A",
                   help="alpha below A becomes the transparent index (default: %(default)s)")
    p.add_argument("--max-pixels", type=_positive_int, default=image_io.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse images with more than N pixels (decompression-bomb guard; default: %(default)s)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON object of stats per file on stdout")
    p.set_defaults(func=_run_encode)


#: ``gifnets encode`` compiles ``net+kmeans``'s refinement with XLA (:data:`encode.XLA_REFINE_MAX_COLORS`)
#: only for at least this many inputs. On one 256x300 photo at 16 colours the whole command took 0.7 s
#: longer with XLA (mean of 3 runs each; 1.3-2.5 s in another measurement), and XLA saves ~12 ms per
#: image, so it pays off after roughly 60-200 images. Set $GIFNETS_XLA to choose.
XLA_MIN_INPUTS = 100


def _run_encode(args) -> int:
    from gif_pipeline import encode, gif_io

    outputs = gif_io.plan_outputs(args.inputs, args.output)
    encode.xla_enabled()  # a bad $GIFNETS_XLA is one error line, before any work
    # With few inputs, compiling would cost more than it saves: $GIFNETS_XLA=off unless the user set it.
    with _env_default("GIFNETS_XLA", "off" if len(args.inputs) < XLA_MIN_INPUTS else None):
        return _encode_all(args, outputs)


@contextlib.contextmanager
def _env_default(name: str, value: str | None):
    """Set ``$name`` to ``value`` for the block unless it is set already (or ``value`` is None)."""
    if value is None or name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _encode_all(args, outputs) -> int:
    from tqdm import tqdm

    from gif_pipeline import encode, gif_io, image_io

    status = EXIT_OK
    show_bar = not args.quiet and len(args.inputs) > 1
    pairs = list(zip(args.inputs, outputs))
    for src, dst in tqdm(pairs, desc="encoding", unit="img", disable=not show_bar, file=sys.stderr):
        try:
            loaded = image_io.load_image(src, max_pixels=args.max_pixels, background=args.background,
                                         alpha_threshold=args.alpha_threshold)
            result = encode.encode_image(loaded.rgb, colors=args.colors, palette=args.palette,
                                         dither=args.dither, alpha_mask=loaded.alpha_mask, seed=args.seed,
                                         kmeans_iterations=args.kmeans_iterations)
            gif_io.atomic_write(dst, result.gif_bytes, force=args.force, protect=args.inputs)
        except GifnetsError as e:
            tqdm.write(f"gifnets: error: {e}", file=sys.stderr)
            status = max(status, EXIT_BAD_INPUT)
            continue
        except Exception as e:  # an internal error on one file must not lose the rest of the batch
            tqdm.write(f"gifnets: internal error on {src}: {type(e).__name__}: {e}", file=sys.stderr)
            status = status or EXIT_INTERNAL
            continue
        stats = {"input": src, "output": dst, **result.stats(loaded.rgb, loaded.alpha_mask)}
        if args.json:
            tqdm.write(json.dumps(stats), file=sys.stdout)
        elif not args.quiet:
            tqdm.write(f"{src} -> {dst}: {stats['colors']} colours, {stats['bytes']:,} bytes, "
                       f"PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.2f} s "
                       f"(palette {stats['palette']}, dither {stats['dither']})", file=sys.stdout)
    return status


def _add_bench_parser(sub):
    # Listed for --help only: main() hands `gifnets bench ...` to gif_pipeline.bench.main.
    sub.add_parser("bench", help="compare gifnets with Pillow, k-means, libimagequant, ffmpeg and pngquant "
                   "(gifnets bench --help)", add_help=False)


def _add_client_parser(sub):
    from export import client

    p = sub.add_parser("client", help="send images to a TF Serving server and write the GIFs it returns",
                       description="Encode images with a GIFnets model served by TensorFlow Serving (REST or gRPC). "
                       "One input: -o is a file or a folder. Several inputs: -o is a folder.")
    client.add_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gifnets", description="GIF encoding with learned palettes and dithering.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_encode_parser(sub)
    _add_bench_parser(sub)
    _add_client_parser(sub)
    return parser


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _drop_retracing_warnings():
    """Keep TensorFlow's "N out of the last N calls ... triggered tf.function retracing" off stderr.

    gifnets traces its compiled functions once per palette size and input shape, so ``gifnets bench`` (five
    sizes, two palette modes) trips TensorFlow's warning, which tells a user of the CLI nothing to act on.
    Other TensorFlow warnings are kept."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingWarning) for f in logger.filters):
        logger.addFilter(_NoRetracingWarning())


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter (CUDA probes on CPU machines) kept off stderr.

    Python errors from the import still surface; set TF_CPP_MIN_LOG_LEVEL=0 to see everything (the
    retracing warnings too: :func:`_drop_retracing_warnings`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3":
        return
    _drop_retracing_warnings()
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own parser (and --help)
        _import_tensorflow_quietly()
        from gif_pipeline import bench

        return bench.main(argv[1:], prog="gifnets bench") or 0
    # Arguments first: --help and argument errors need no TensorFlow (~5 s to import on a small machine).
    args = build_parser().parse_args(argv)
    _import_tensorflow_quietly()
    try:
        return args.func(args)
    except GifnetsError as e:
        print(f"gifnets: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gifnets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

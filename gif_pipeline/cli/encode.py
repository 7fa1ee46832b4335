"""``gifnets encode``: images -> GIF89a files."""
from __future__ import annotations

from gif_pipeline.cli import args as cli_args
from gif_pipeline.cli import batch

#: ``gifnets encode`` compiles ``net+kmeans``'s refinement with XLA (:data:`encode.XLA_REFINE_MAX_COLORS`)
#: only for at least this many inputs. On one 256x300 photo at 16 colours the whole command took 0.7 s
#: longer with XLA (mean of 3 runs each; 1.3-2.5 s in another measurement), and XLA saves ~12 ms per
#: image, so it pays off after roughly 60-200 images. Set $GIFNETS_XLA to choose.
XLA_MIN_INPUTS = 100


def add_parser(sub):
    from gif_pipeline import encode
    from gif_pipeline.io import images as image_io

    p = sub.add_parser(
        "encode",
        help="turn images into GIFs",
        description="Encode images as GIF89a files. One input: -o is a file or a folder. "
        "Several inputs: -o is a folder (created if needed), each IN becomes NAME.gif.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="input images (JPEG, PNG, WebP, TIFF, BMP, GIF, ...)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif file or folder")
    p.add_argument("--colors", type=cli_args.colors, default=256, help="palette size, 2..256 (default: %(default)s)")
    p.add_argument("--palette", choices=["auto"] + sorted(encode.PALETTE_STAGES), default=encode.DEFAULT_PALETTE,
                   help="palette method; net = PaletteNet, net+kmeans = PaletteNet refined by Lloyd "
                   "iterations (default: %(default)s; " + encode.AUTO_HELP + ")")
    p.add_argument("--dither", choices=["auto"] + sorted(encode.DITHER_STAGES), default=encode.DEFAULT_DITHER,
                   help="dithering: none, fs (Floyd-Steinberg) or net (DitherNet) (default: %(default)s)")
    p.add_argument("--backend", choices=encode.BACKENDS, default=None,
                   help="where the networks run: litert (the .tflite models, no TensorFlow) or tf (the .keras models "
                   "on TensorFlow, pip install \"gifnets[train]\"); default: $GIFNETS_BACKEND, else "
                   f"{encode.DEFAULT_BACKEND}")
    p.add_argument("--seed", type=int, default=0, help="seed for k-means (default: %(default)s)")
    p.add_argument("--kmeans-iterations", type=cli_args.positive_int, default=None, metavar="N",
                   help="Lloyd iterations of --palette kmeans (default 10) and net+kmeans (default "
                   f"{encode.KMEANS_REFINE_ITERATIONS}, split-merge rounds among them)")
    p.add_argument("--background", type=cli_args.rgb, default=None, metavar="COLOR",
                   help="composite transparent pixels onto COLOR instead of keeping GIF transparency")
    p.add_argument("--alpha-threshold", type=cli_args.alpha, default=128, metavar="A",
                   help="alpha below A becomes the transparent index (default: %(default)s)")
    p.add_argument("--max-pixels", type=cli_args.positive_int, default=image_io.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse images with more than N pixels (decompression-bomb guard; default: %(default)s)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON object of stats per file on stdout")
    p.set_defaults(func=run)


def needs_tensorflow(args) -> bool:
    """Whether this run uses TensorFlow (the ``tf`` backend, or classical k-means), so it is imported up front."""
    from gif_pipeline import encode

    try:
        return encode.resolve_backend(args.backend) == "tf" or args.palette == "kmeans"
    except Exception:  # reported by run()
        return False


def run(args) -> int:
    from gif_pipeline import encode
    from gif_pipeline.io import gif as gif_io

    outputs = gif_io.plan_outputs(args.inputs, args.output)
    encode.xla_enabled()  # a bad $GIFNETS_XLA is one error line, before any work
    args.backend = encode.resolve_backend(args.backend)  # tf without TensorFlow: one error line, before any work
    # With few inputs, compiling would cost more than it saves: $GIFNETS_XLA=off unless the user set it.
    with cli_args.env_default("GIFNETS_XLA", "off" if len(args.inputs) < XLA_MIN_INPUTS else None):
        return encode_all(args, outputs)


def describe(stats: dict) -> str:
    return (f"{stats['input']} -> {stats['output']}: {stats['colors']} colours, {stats['bytes']:,} bytes, "
            f"PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.2f} s "
            f"(palette {stats['palette']}, dither {stats['dither']})")


def encode_all(args, outputs) -> int:
    from gif_pipeline import encode
    from gif_pipeline.io import gif as gif_io
    from gif_pipeline.io import images as image_io

    def process(src, dst):
        loaded = image_io.load_image(src, max_pixels=args.max_pixels, background=args.background,
                                     alpha_threshold=args.alpha_threshold)
        result = encode.encode_image(loaded.rgb, colors=args.colors, palette=args.palette, dither=args.dither,
                                     alpha_mask=loaded.alpha_mask, seed=args.seed,
                                     kmeans_iterations=args.kmeans_iterations, backend=args.backend)
        gif_io.atomic_write(dst, result.gif_bytes, force=args.force, protect=args.inputs)
        return {"input": src, "output": dst, **result.stats(loaded.rgb, loaded.alpha_mask)}

    return batch.run(zip(args.inputs, outputs), process, desc="encoding", quiet=args.quiet, as_json=args.json,
                     describe=describe)

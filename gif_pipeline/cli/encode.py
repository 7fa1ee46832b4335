"""``gifnets encode``: images -> GIF89a files."""
from __future__ import annotations

import os

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
    p.add_argument("inputs", nargs="+", metavar="IN", help="input images (JPEG, PNG, WebP, TIFF, BMP, GIF, ...) or "
                   "videos (mp4, webm, mov, mkv, mpg, avi: animated GIFs, as are animated GIF/WebP/APNG inputs)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif file or folder")
    p.add_argument("--colors", type=cli_args.colors, default=256, help="palette size, 2..256 (default: %(default)s)")
    p.add_argument("--palette", choices=["auto"] + sorted(encode.PALETTE_STAGES), default=encode.DEFAULT_PALETTE,
                   help="palette method; net = PaletteNet, net+kmeans = PaletteNet refined by Lloyd "
                   "iterations (default: %(default)s; " + encode.AUTO_HELP + ")")
    p.add_argument("--dither", choices=["auto"] + sorted(encode.DITHER_STAGES), default=encode.DEFAULT_DITHER,
                   help="dithering: none, fs (Pillow's Floyd-Steinberg), ed (gifnets' error diffusion), net (DitherNet) "
                        "or ordered (blue-noise pattern); in animations auto is ed over what each pixel shows, "
                        "colours measured mostly by brightness (default: %(default)s)")
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
    anim = p.add_argument_group("animations (video, animated GIF/WebP/APNG inputs, or --animate)")
    anim.add_argument("--animate", action="store_true", help="join the input images, in the order given, as the "
                      "frames of one animated GIF (-o is that file)")
    anim.add_argument("--fps", type=cli_args.positive_float, default=None,
                      help="frame rate: frames are dropped or repeated to reach it (default: the clip's, at most 50; "
                      "20 for --animate)")
    anim.add_argument("--width", type=cli_args.positive_int, default=None, help="frame width (keeps the aspect "
                      "ratio unless --height is given too)")
    anim.add_argument("--height", type=cli_args.positive_int, default=None, help="frame height")
    anim.add_argument("--start", type=cli_args.non_negative_float, default=0.0, metavar="S",
                      help="start at S seconds")
    anim.add_argument("--duration", type=cli_args.positive_float, default=None, metavar="S",
                      help="encode S seconds")
    anim.add_argument("--loop", type=cli_args.loop_count, default=0, metavar="N",
                      help="repeat N times after the first play (0 = forever, the default; -1 = play once)")
    anim.add_argument("--quality", type=cli_args.quality, default=90, metavar="Q",
                      help="1-100: lower = smaller files, fewer colours, more of a moving picture's still parts "
                      "kept from earlier frames; 100 rewrites every pixel whose source moved (largest files) "
                      "(default: %(default)s)")
    anim.add_argument("--lossy", action="store_true",
                      help="choose each frame's colours by a search that trades error against GIF's run lengths "
                      "instead of dithering: smaller files for camera footage at the same quality; smooth gradients "
                      "band (strength follows --quality)")
    anim.add_argument("--palette-mode", choices=animate_modes(), default="auto",
                      help="global: one palette; frame: one per frame; mixed: a new one where a scene changes; "
                      "tiered: a 256-colour first frame, then small local tables fitted to each frame's changed "
                      "pixels; auto: the best by measured bytes and quality on the first frames (default: %(default)s)")
    anim.add_argument("--max-frames", type=cli_args.positive_int, default=None, metavar="N",
                      help="refuse inputs of more than N frames (default: 10000)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="print one JSON object of stats per file on stdout")
    p.set_defaults(func=run)


def animate_modes():
    from gif_pipeline import animate

    return animate.PALETTE_MODES


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

    if args.animate:
        if os.path.isdir(args.output) or args.output.endswith(os.sep):
            from gif_pipeline.errors import GifnetsError

            raise GifnetsError(f"{args.output}: with --animate, -o is the animation's .gif file, not a folder")
        outputs = [args.output]
    else:
        outputs = gif_io.plan_outputs(args.inputs, args.output)
    encode.xla_enabled()  # a bad $GIFNETS_XLA is one error line, before any work
    args.backend = encode.resolve_backend(args.backend)  # tf without TensorFlow: one error line, before any work
    # With few inputs, compiling would cost more than it saves: $GIFNETS_XLA=off unless the user set it.
    with cli_args.env_default("GIFNETS_XLA", "off" if len(args.inputs) < XLA_MIN_INPUTS else None):
        return encode_all(args, outputs)


def describe(stats: dict) -> str:
    if "gif_frames" in stats:
        return (f"{stats['input']} -> {stats['output']}: {stats['frames']} frames ({stats['gif_frames']} in the GIF) "
                f"{stats['width']}x{stats['height']}, {stats['duration']:.2f} s, {stats['bytes']:,} bytes, "
                f"mean PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.2f} s to encode (palettes "
                f"{stats['palette_mode']}: {stats['palettes']}, {stats['palette']}, "
                + (f"lossy {stats['lossy']:g})" if stats.get("lossy") else f"dither {stats['dither']})"))
    return (f"{stats['input']} -> {stats['output']}: {stats['colors']} colours, {stats['bytes']:,} bytes, "
            f"PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.2f} s "
            f"(palette {stats['palette']}, dither {stats['dither']})")


def encode_all(args, outputs) -> int:
    from gif_pipeline import encode
    from gif_pipeline.io import gif as gif_io
    from gif_pipeline.io import images as image_io
    from gif_pipeline.io import sources

    def process(src, dst):
        if args.animate or sources.is_animation(src):
            return encode_animation(args, [src] if not args.animate else args.inputs, dst)
        loaded = image_io.load_image(src, max_pixels=args.max_pixels, background=args.background,
                                     alpha_threshold=args.alpha_threshold)
        result = encode.encode_image(loaded.rgb, colors=args.colors, palette=args.palette, dither=args.dither,
                                     alpha_mask=loaded.alpha_mask, seed=args.seed,
                                     kmeans_iterations=args.kmeans_iterations, backend=args.backend)
        gif_io.atomic_write(dst, result.gif_bytes, force=args.force, protect=args.inputs)
        return {"input": src, "output": dst, **result.stats(loaded.rgb, loaded.alpha_mask)}

    pairs = [(f"{len(args.inputs)} frames", outputs[0])] if args.animate else zip(args.inputs, outputs)
    return batch.run(pairs, process, desc="encoding", quiet=args.quiet, as_json=args.json,
                     describe=describe)


def open_source(args, inputs: list[str]):
    """The frames of one animation: stills joined (--animate), a video, or an animated image."""
    from gif_pipeline.io import sources, video

    kw = dict(fps=args.fps, width=args.width, height=args.height, start=args.start, duration=args.duration)
    limit = args.max_frames or sources.DEFAULT_MAX_FRAMES
    if args.animate:
        return sources.from_stills(inputs, max_pixels=args.max_pixels, **kw)
    if video.is_video_path(inputs[0]):
        return sources.from_video(inputs[0], max_frames=limit, **kw)
    return sources.from_image(inputs[0], max_frames=limit, max_pixels=args.max_pixels, **kw)


def encode_animation(args, inputs: list[str], dst: str) -> dict:
    """One animated GIF at ``dst`` (written atomically) with a progress bar per frame."""
    import sys

    from tqdm import tqdm

    from gif_pipeline import animate

    source = open_source(args, inputs)
    # the global palette's frames, spread over the whole clip (a first pass over the file; small frames)
    samples = source.samples(animate.sample_count(args.quality, args.dither, args.palette_mode, args.lossy)) \
        if args.palette_mode != "frame" else None
    name = source.name if not args.animate else f"{len(inputs)} frames"
    with tqdm(total=source.frames, desc=os.path.basename(name)[:24], unit="frame", leave=False, file=sys.stderr,
              disable=args.quiet) as bar:
        result = animate.encode_frames(
            source.open(), dst, fps=None if source.own_timing else source.fps, colors=args.colors,
            quality=args.quality, palette=args.palette, dither=args.dither, palette_mode=args.palette_mode,
            loop=None if args.loop < 0 else args.loop, sample_frames=samples, backend=args.backend, force=args.force,
            protect=inputs, progress=bar.update, lossy=args.lossy)
    return {"input": name, "output": dst, **result.stats()}


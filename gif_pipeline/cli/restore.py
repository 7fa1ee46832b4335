"""``gifnets restore``: GIFs -> restored images (GIF2Video's CCDNet), stills and animations.

The animated I/O here is deliberately minimal and isolated (:func:`read_frames`, :func:`write_animation`): Pillow
reads the frames, Pillow writes WebP / APNG, ffmpeg (the imageio-ffmpeg binary) writes MP4, or a folder of PNGs.
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile

from gif_pipeline.cli import args as cli_args
from gif_pipeline.cli import batch
from gif_pipeline.cli import interpolate as interp_cli

ANIMATED_FORMATS = (".webp", ".png", ".mp4")
STILL_FORMATS = (".png", ".webp", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FORMATS = ("png", "webp", "mp4", "gif", "frames")


def add_parser(sub):
    from gif_pipeline.encode import BACKENDS
    from gif_pipeline.io import images as image_io
    from gif_pipeline.models.interp.config import FLOW_INPUTS

    p = sub.add_parser(
        "restore",
        help="restore GIFs' colours (CCDNet colour dequantization)",
        description="Undo a GIF's colour quantization (false contours, flat regions, dither dots) with GIF2Video's "
        "CCDNet. One input: -o is a file (.png/.webp/.jpg; an animation: .webp, .png (APNG), .mp4, or a folder for "
        "PNG frames). Several inputs: -o is a folder, each IN becomes NAME.<--format>.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="input GIFs (a PNG or JPEG is restored too, and said so)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file or folder")
    p.add_argument("--steps", type=int, choices=(1, 2, 3), default=2,
                   help="CCDNet steps: 1 (one U-Net), 2 (the paper's best), 3 (default: %(default)s)")
    p.add_argument("--model", choices=("auto", "plain", "dithered"), default="auto",
                   help="auto: the dither classifier picks the CCDNet trained on plain or on dithered GIFs; or force "
                   "one (default: %(default)s)")
    p.add_argument("--no-consistency", dest="consistent", action="store_false",
                   help="return the network's output as is (by default each pixel is kept consistent with its GIF "
                        "colour: never moved out of that colour's quantization cell, nor far from it)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="where the networks run: litert (the .tflite models, no TensorFlow), tf (the .keras models on "
                   "TensorFlow, pip install \"gifnets[train]\") or auto: LiteRT for each network whose .tflite model is "
                   "installed, else TensorFlow (default: $GIFNETS_BACKEND, else auto)")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--interpolate", type=functools.partial(interp_cli.factor, option="--interpolate"),
                        default=None, metavar="{2,4,8}",
                        help="also 2, 4 or 8 times the frames (GIF2Video's frame interpolation on the restored "
                        "frames), each lasting 1/factor of its source frame: the animation keeps its length. OUT: "
                        ".mp4, .gif, .webp or a folder (PNG frames 0000.png, 0001.png, ...)")
    frames.add_argument("--fps", type=cli_args.positive_float, default=None, metavar="N",
                        help="as --interpolate, with the smallest factor of 2, 4, 8 that reaches N frames/s")
    p.add_argument("--flows", choices=FLOW_INPUTS, default=None,
                   help="with --interpolate/--fps: the frames the motion is estimated on, the GIF's (GIF2Video's "
                   "\"parallel\" variant) or the restored ones (\"sequential\"); the restored frames are warped either "
                   "way (default: the network's own; the shipped one was trained on GIF frames: gif)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format for -o folders: png (APNG for animations), webp, mp4 (animations), gif (with "
                   "--interpolate), frames (a folder of PNGs per input) (default: png; mp4 with --interpolate/--fps)")
    p.add_argument("--max-pixels", type=cli_args.positive_int, default=image_io.DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse inputs with more than N pixels over all frames (default: %(default)s)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per file: the model that ran, P(dithered) and who gave it (router), timing")
    p.set_defaults(func=run)


def networks(model: str) -> tuple[str, ...]:
    """The restore networks (weight kinds) that a run with ``--model`` may use."""
    if model == "auto":
        from gif_pipeline import restore

        # The numpy dither router needs no network; without it the CNN classifier routes.
        return (("gif_classifier",) if restore.router_kind() == "cnn" else ()) + ("ccdnet_plain", "ccdnet_dithered")
    return (f"ccdnet_{model}",)


def backends(args) -> dict:
    """Weight kind -> ``litert`` or ``tf`` for this run (:func:`gif_pipeline.restore.resolve_backend`): one error line
    (MissingPrerequisiteError) when a network would need TensorFlow and this install lacks it."""
    from gif_pipeline import restore

    return {kind: restore.resolve_backend(kind, args.backend) for kind in networks(args.model)}


def needs_tensorflow(args) -> bool:
    """Whether this run uses TensorFlow (a network without its LiteRT model, or ``--backend tf``), so that the CLI
    imports it up front."""
    from gif_pipeline import restore

    try:
        return any(restore.resolve_backend(kind, args.backend, check=False) == "tf" for kind in networks(args.model))
    except Exception:  # reported by run()
        return False


def _suffix(fmt: str) -> str:
    return "" if fmt == "frames" else "." + fmt


def is_gif(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(6) in (b"GIF87a", b"GIF89a")
    except OSError:
        return False


def read_frames(path: str, max_pixels: int):
    """``(frames uint8 [H, W, 3] list, durations_ms, loop)`` of a GIF (or any image) by Pillow, composited."""
    from gif_pipeline.errors import ImageLoadError
    from gif_pipeline.io import images as image_io

    loaded = image_io.load_frames(path, max_pixels=max_pixels, background=(255, 255, 255))
    if not loaded.frames:
        raise ImageLoadError(f"{path}: no frames")
    return [f.rgb for f in loaded.frames], loaded.durations_ms, loaded.loop


def _png_bytes(rgb, fmt="PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_still(path: str, rgb, force: bool, protect) -> None:
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.io.files import atomic_write

    ext = os.path.splitext(path)[1].lower()
    fmt = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
           ".tiff": "TIFF"}.get(ext)
    if fmt == "WEBP":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="WEBP", lossless=True)
        data = buf.getvalue()
    elif fmt is None:
        raise GifnetsError(f"{path}: unknown output format {ext or '(none)'}; use one of {', '.join(STILL_FORMATS)}")
    else:
        data = _png_bytes(rgb, fmt)
    atomic_write(path, data, force=force, protect=protect)


def _mp4_bytes(frames, durations) -> bytes:
    import imageio_ffmpeg

    from gif_pipeline.errors import GifnetsError

    h, w = frames[0].shape[:2]
    mean_ms = max(10, sum(durations) / len(durations)) if any(durations) else 100
    fps = f"{1000.0 / mean_ms:.4f}"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.mp4")
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", fps, "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", out]
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True)
        if proc.returncode:
            raise GifnetsError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
        with open(out, "rb") as f:
            return f.read()


def write_animation(path: str, frames, durations, loop, force: bool, protect) -> None:
    """Write frames as ``.webp`` / ``.png`` (APNG) / ``.mp4``, or into a new folder of PNGs (no extension);
    atomically (a folder is filled under a temporary name, then renamed)."""
    from PIL import Image

    from gif_pipeline.errors import GifnetsError, OutputExistsError
    from gif_pipeline.io.files import atomic_write

    ext = os.path.splitext(path)[1].lower()
    durations = [d if d > 0 else 100 for d in durations]
    if ext in (".webp", ".png"):
        buf = io.BytesIO()
        images = [Image.fromarray(f) for f in frames]
        options = dict(save_all=True, append_images=images[1:], duration=durations, loop=loop or 0)
        if ext == ".webp":
            options["lossless"] = True
        images[0].save(buf, format="WEBP" if ext == ".webp" else "PNG", **options)
        atomic_write(path, buf.getvalue(), force=force, protect=protect)
    elif ext == ".mp4":
        atomic_write(path, _mp4_bytes(frames, durations), force=force, protect=protect)
    elif ext == "":
        if os.path.lexists(path) and not force:
            raise OutputExistsError(f"{path}: already exists (use --force to overwrite)")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise GifnetsError(f"{path}: output folder {parent} does not exist")
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", dir=parent)
        try:
            for i, f in enumerate(frames):
                with open(os.path.join(tmp, f"frame_{i:05d}.png"), "wb") as out:
                    out.write(_png_bytes(f))
            if os.path.lexists(path):
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        raise GifnetsError(f"{path}: an animation is written as .webp, .png (APNG), .mp4 or a folder (no extension)")


def describe(stats: dict) -> str:
    p = stats.get("dithered_probability")
    routed = f"{stats['model']} model" + (f" (P(dithered) {p:.3f})" if p is not None else " (forced)")
    note = "" if stats["input_is_gif"] else " [not a GIF: restored anyway]"
    frames = interp_cli.describe_frames(stats) if "factor" in stats else f"{stats['frames']} frame(s)"
    return (f"{stats['input']} -> {stats['output']}: {frames}, {routed}, CCDNet-{stats['steps']} "
            f"({stats.get('backend') or '?'}), "
            f"{stats['seconds']:.2f} s{note}")


def restore_and_interpolate(src: str, dst: str, args) -> dict:
    """``--interpolate`` / ``--fps``: the frames restored one at a time and interpolated as they come (the shipped
    InterpNet is "parallel": its flows read the GIF frames, it warps the restored ones), written by ``gifnets
    interpolate``'s writer (timing kept; .mp4 and folders streamed)."""
    from gif_pipeline import interpolate as interp
    from gif_pipeline import restore
    from gif_pipeline.io import anim_pillow

    anim_pillow.output_kind(dst)  # a format interpolation cannot write: said before any work
    frames, durations, loop = read_frames(src, args.max_pixels)
    # as gifnets interpolate reads them: a delay under 20 ms plays as 100 ms in browsers
    durations, loop = [d if d >= 20 else anim_pillow.DEFAULT_DURATION_MS for d in durations], loop or 0
    if len(frames) == 1:
        result = restore.restore_image(frames[0], steps=args.steps, model=args.model, consistent=args.consistent,
                                       backend=args.backend)
        anim_pillow.write_animation(dst, [result.image], durations, loop, force=args.force, protect=args.inputs)
        raise interp.InterpolationError(f"{src}: a still image (1 frame): nothing to interpolate; wrote the "
                                        f"restored still to {dst}")
    frames = interp.check_frames(frames)
    k = interp_cli.plan(src, dst, frames, durations, factor=args.interpolate, fps=args.fps, force=args.force,
                        quiet=args.quiet)
    first = []

    def restored():
        for r in restore.iter_restore_frames(frames, steps=args.steps, model=args.model, consistent=args.consistent,
                                             backend=args.backend):
            if not first:
                first.append(r)
            yield r.image

    stats = interp_cli.write(src, dst, frames, durations, loop, k, force=args.force, protect=args.inputs,
                             restored=restored(), flow_input=args.flows)
    return {**first[0].stats(frames[0]), **stats, "frames": int(len(frames))}


def run(args) -> int:
    import time

    from gif_pipeline import restore
    from gif_pipeline.io import gif as gif_io

    backends(args)  # a network that needs TensorFlow on an install without it: one error line, before any file is read
    interpolating = args.interpolate is not None or args.fps is not None
    if args.flows is not None and not interpolating:
        from gif_pipeline.errors import GifnetsError

        raise GifnetsError("--flows applies to frame interpolation: add --interpolate 2|4|8 or --fps N")
    if interpolating:
        from gif_pipeline.encode import require_tensorflow

        require_tensorflow("gifnets restore --interpolate", ("interp",))  # InterpNet runs on TensorFlow (no LiteRT model yet)
    fmt = args.format or ("mp4" if interpolating else "png")
    outputs = gif_io.plan_outputs(args.inputs, args.output, suffix=_suffix(fmt))

    def process(src, dst):
        start = time.perf_counter()
        if interpolating:
            stats = {**restore_and_interpolate(src, dst, args), "input_is_gif": is_gif(src)}
        else:
            frames, durations, loop = read_frames(src, args.max_pixels)
            if len(frames) == 1:
                if os.path.splitext(dst)[1] == "":
                    dst = dst + ".png"
                results = [restore.restore_image(frames[0], steps=args.steps, model=args.model,
                                                consistent=args.consistent, backend=args.backend)]
                write_still(dst, results[0].image, args.force, args.inputs)
            else:
                results = restore.restore_frames(frames, steps=args.steps, model=args.model,
                                                 consistent=args.consistent, backend=args.backend)
                write_animation(dst, [r.image for r in results], durations, loop, args.force, args.inputs)
            stats = {"input": src, "output": dst, "input_is_gif": is_gif(src), "frames": len(frames),
                     **results[0].stats(frames[0])}
        stats["seconds"] = round(time.perf_counter() - start, 4)
        if not stats["input_is_gif"]:
            stats["note"] = "not a GIF: restored anyway"
        return stats

    return batch.run(zip(args.inputs, outputs), process, desc="restoring", quiet=args.quiet, as_json=args.json,
                     describe=describe)

"""``gifnets bench``: the benchmark against the peers (its own parser: :mod:`gif_pipeline.eval.bench`)."""
from __future__ import annotations


def add_parser(sub):
    # Listed for --help only: gifnets' main() hands `gifnets bench ...` to gif_pipeline.eval.bench.main.
    sub.add_parser("bench", help="compare gifnets with Pillow, k-means, libimagequant, ffmpeg and pngquant "
                   "(gifnets bench --help); --task animation: animated GIFs against gifski, ffmpeg and gifsicle; "
                   "--task compression: the GAN codec against JPEG, WebP, AVIF, HEIC, JPEG XL; --task restore: GIF "
                   "restoration against smoothing, deband and gradfun", add_help=False)


def main(argv: list[str]) -> int:
    from gif_pipeline.eval import bench

    task, rest = _task(argv)
    if task == "animation":
        from gif_pipeline.eval import animation_bench

        return animation_bench.main(rest, prog="gifnets bench --task animation") or 0
    if task == "compression":
        from gif_pipeline.eval import compression

        return compression.main(rest) or 0
    if task == "restore":  # GIF restoration (gif_pipeline/eval/restore.py)
        from gif_pipeline.eval import restore

        return restore.main(rest) or 0
    if task not in (None, "images"):
        print(f"gifnets bench: error: --task must be images (the default), animation, compression or restore, got {task!r}")
        return 2
    return bench.main(rest, prog="gifnets bench") or 0


def _task(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--task NAME`` / ``--task=NAME`` taken out of ``argv``: (NAME or None, the other arguments)."""
    for i, a in enumerate(argv):
        if a == "--task" and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if a.startswith("--task="):
            return a.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return None, list(argv)

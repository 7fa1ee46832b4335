"""``gifnets bench``: the benchmark against the peers (its own parser: :mod:`gif_pipeline.eval.bench`)."""
from __future__ import annotations


def add_parser(sub):
    # Listed for --help only: gifnets' main() hands `gifnets bench ...` to gif_pipeline.eval.bench.main.
    sub.add_parser("bench", help="compare gifnets with Pillow, k-means, libimagequant, ffmpeg and pngquant "
                   "(gifnets bench --help)", add_help=False)


def main(argv: list[str]) -> int:
    if argv[:2] == ["--task", "restore"] or argv[:1] == ["--task=restore"]:  # GIF restoration (gif_pipeline/eval/restore.py)
        from gif_pipeline.eval import restore

        return restore.main(argv[2:] if argv[0] == "--task" else argv[1:]) or 0
    from gif_pipeline.eval import bench

    return bench.main(argv, prog="gifnets bench") or 0

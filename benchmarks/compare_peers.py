#!/usr/bin/env python
"""Side-by-side benchmark of gifnets against Pillow, k-means, libimagequant, ffmpeg and pngquant.

Same as ``gifnets bench``; see :mod:`gif_pipeline.eval.bench` for what is measured and written.

    python benchmarks/compare_peers.py ../shared/data/val --colors 16 32 64 128 256 --out /tmp/bench_val
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gif_pipeline.eval import bench  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench.main(sys.argv[1:], prog="compare_peers.py"))

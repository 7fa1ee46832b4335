"""The restore bench (gif_pipeline/eval/restore.py): CCDNet vs classical smoothing on quantized held-out photos.

    python benchmarks/restore_bench.py ../shared/data/val --out results/restore
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gif_pipeline.eval.restore import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

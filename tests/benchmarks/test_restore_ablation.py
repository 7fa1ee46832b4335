"""benchmarks/restore_ablation.py: Table 1's rows for any CCDNet files, end to end on a tiny network."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import checks


@pytest.mark.slow  # three TensorFlow processes: about a minute
def test_restore_ablation_table(tmp_path):
    import keras

    from gif_pipeline.eval import restore as bench
    from gif_pipeline.metrics import image as metrics
    from gif_pipeline.models.restore import ccdnet
    from gif_pipeline.models.restore.config import CCDNetConfig

    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = np.asarray(Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB"))
    Image.fromarray(rgb).save(photos / "a.png")
    keras.utils.set_random_seed(0)
    path = str(tmp_path / "tiny.keras")
    ccdnet.build_ccdnet(CCDNetConfig.tiny(steps=2, residual=True)).save(path)
    cmd = [sys.executable, os.path.join(checks.ROOT, "benchmarks", "restore_ablation.py"), str(photos),
           "--encoders", "pillow-mediancut", "--colors", "16", "--model", f"tiny one step={path}:1",
           "--model", f"tiny={path}", "--out", str(tmp_path / "t.md")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": checks.ROOT})
    assert r.returncode == 0, r.stderr[-2000:]
    table = (tmp_path / "t.md").read_text()
    assert table.strip() in r.stdout
    gif = bench.quantize("pillow-mediancut", False, rgb, 16)
    assert f"| input GIF | {metrics.psnr(rgb, gif):.2f} / {metrics.ssim(rgb, gif):.3f} |  |" in table
    labels = re.findall(r"^\| (.+?) \| [\d.]+ / [\d.]+ \| [+-][\d.]+ \|$", table, re.M)
    assert labels == ["tiny one step", "tiny", "tiny one step, with the post-step", "tiny, with the post-step"]
    bad = subprocess.run(cmd[:3] + ["--model", f"x={tmp_path / 'missing.keras'}"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": checks.ROOT})
    assert bad.returncode == 2 and "no such file" in bad.stderr

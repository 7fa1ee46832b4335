"""benchmarks/router_eval.py: the routing table of prepared bench GIFs and the time per frame, end to end."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import checks


def test_router_eval_prints_the_routing_table_and_the_time_per_frame(tmp_path):
    rgb = np.asarray(Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB").resize((96, 96)))
    plain = Image.fromarray(rgb).quantize(16)
    fs = Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG)
    keys = [json.dumps(["hopper", "pillow-mediancut", 16, d]) for d in (0, 1)]
    np.savez(tmp_path / "prepared_0of1.npz", gifs=np.stack([np.asarray(plain.convert("RGB")), np.asarray(fs.convert("RGB"))]),
             keys=np.array(keys))
    r = subprocess.run([sys.executable, os.path.join(checks.ROOT, "benchmarks", "router_eval.py"), "--prepared",
                        str(tmp_path / "prepared_*.npz"), "--no-cnn", "--csv", str(tmp_path / "p.csv")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": checks.ROOT})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| pillow-mediancut | no | 1.00 | 1.00 |" in r.stdout and "| pillow-mediancut | yes | 1.00 | 1.00 |" in r.stdout
    assert "router: overall 1.0000 (2/2)" in r.stdout and " ms" in r.stdout.splitlines()[-1]
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "image,encoder,colors,dithered,p_router" and len(rows) == 3

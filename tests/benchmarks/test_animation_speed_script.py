"""benchmarks/animation_speed.py (issue 25's speed target) runs end to end on a tiny synthetic pan: the table row with
the GIF's sha256 (that of the encode itself), and the stage split, whose parts add up to the encode's time."""
import hashlib
import os
import sys

import numpy as np
from PIL import Image

import checks

sys.path.insert(0, checks.ROOT)


def _photo_folder(tmp_path):
    folder = tmp_path / "val" / "mate-backgrounds"
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:200, 0:260]
    rgb = np.stack([x % 256, (y * 2) % 256, (x + y) % 256], axis=2).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "00003.png")
    return tmp_path / "val"


def test_speed_table_and_stages(tmp_path, capsys):
    from benchmarks import animation_speed
    from gif_pipeline import animate
    from gif_pipeline.eval import animation_bench as ab

    val = _photo_folder(tmp_path)
    args = ["--clips", str(tmp_path / "none"), "--val", str(val), "--only", "pan", "--frames", "5", "--repeats", "1"]
    assert animation_speed.main([*args, "--qualities", "90", "--no-gifski"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| pan ")]
    assert len(rows) == 1
    clip = ab.load_clips(str(tmp_path / "none"), str(val), 5, ["pan"])[0]
    data = animate.encode_frames(iter(clip.frames), None, fps=clip.fps, quality=90).gif_bytes
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells[2] == "90" and cells[6] == f"{len(data):,}" and cells[8] == hashlib.sha256(data).hexdigest()[:12]

    assert animation_speed.main([*args, "--stages", "pan:90"]) == 0
    stages = {c[0].strip(): float(c[1]) for c in (line.split("|")[1:3] for line in capsys.readouterr().out.splitlines()
                                                  if line.startswith("| ") and not line.startswith("| pan"))}
    assert stages["remap / dither"] > 0 and stages["LZW / GIF writing (Pillow encoder, verified)"] > 0
    parts = sum(v for k, v in stages.items() if k != "total")
    assert abs(parts - stages["total"]) < 0.002 + 1e-3 * len(stages)  # printed to 3 decimals
    assert not os.path.exists(tmp_path / "none")

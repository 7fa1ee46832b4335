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


def test_quality_diff_writes_the_default_encodes_and_compares_two_folders(tmp_path, capsys):
    """benchmarks/animation_quality_diff.py: --gen writes each clip's default encode (the bytes of encode_frames), and
    --compare of a folder with itself gives a bytes ratio of 1 and no PSNR difference; a missing folder is an error."""
    from benchmarks import animation_quality_diff
    from gif_pipeline import animate
    from gif_pipeline.eval import animation_bench as ab

    val = _photo_folder(tmp_path)
    args = ["--clips", str(tmp_path / "none"), "--val", str(val), "--only", "pan", "--frames", "5", "--qualities", "70"]
    assert animation_quality_diff.main([*args, "--gen", str(tmp_path / "a")]) == 0
    clip = ab.load_clips(str(tmp_path / "none"), str(val), 5, ["pan"])[0]
    want = animate.encode_frames(iter(clip.frames), None, fps=clip.fps, quality=70).gif_bytes
    assert (tmp_path / "a" / "pan_q70.gif").read_bytes() == want
    capsys.readouterr()
    assert animation_quality_diff.main([*args, "--no-vmaf", "--compare", str(tmp_path / "a"), str(tmp_path / "a")]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| pan ")]
    cells = [c.strip() for c in row[0].split("|")[1:-1]]
    assert cells[2] == cells[6] == f"{len(want):,}" and cells[10] == "1.0000" and cells[11] == "+0.00"
    assert animation_quality_diff.main(["--clips", str(tmp_path / "none"), "--val", str(tmp_path / "none"),
                                        "--gen", str(tmp_path / "b")]) == 2

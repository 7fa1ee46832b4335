"""trainers/train_interp as a user runs it: the cpu preset, shrunk by flags, trains, saves and records its data."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import checks


@pytest.mark.slow
def test_the_cpu_preset_trains_two_steps_and_records_the_held_out_clip(tmp_path):
    import imageio_ffmpeg

    clip = str(tmp_path / "clip.mp4")
    writer = imageio_ffmpeg.write_frames(clip, (48, 48), fps=25, macro_block_size=8, ffmpeg_log_level="error")
    writer.send(None)
    for i in range(10):
        f = np.full((48, 48, 3), 60, np.uint8)
        f[10:30, 2 + 2 * i:22 + 2 * i] = 220
        writer.send(f)
    writer.close()
    model_dir = tmp_path / "run"
    cmd = [sys.executable, os.path.join(checks.ROOT, "trainers", "train_interp"), "--preset=cpu", "--steps=2",
           "--checkpoint_every=1", "--width_multiplier=0.125", "--levels=3", "--image_size=32", "--batch_size=2",
           "--validation_steps=1", "--val_examples=2", f"--data={checks.FIXTURES}", f"--val_data={checks.FIXTURES}",
           f"--clips={clip}", f"--model_dir={model_dir}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (model_dir / "interp_net.keras").exists()
    record = json.loads((model_dir / "config.json").read_text())
    assert record["held_out_clip"] == "bigbuckbunny.mp4" and record["clips"] == [clip]
    assert record["model"]["width_multiplier"] == 0.125 and record["flags"]["preset"] == "cpu"
    assert np.isfinite(record["final_metrics"]["loss"])

"""The benchmark scripts run end to end on tiny models and the sample images, and print their tables."""
import os
import sys

import numpy as np
import pytest

import checks  # noqa: E402

ROOT = checks.ROOT
DATA = checks.FIXTURES
sys.path.insert(0, ROOT)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import keras

    from gif_pipeline.models.gifnets.config import DitherNetConfig, PaletteNetConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net
    from gif_pipeline.models.gifnets.palette_net import PaletteNet

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("weights")
    PaletteNet(PaletteNetConfig.tiny(num_colors=8)).save(folder / "palette_np8.keras")
    PaletteNet(PaletteNetConfig.tiny(num_colors=16, nested_sizes=(8, 16))).save(folder / "palette_np16.keras")
    build_dither_net(DitherNetConfig.tiny()).save(folder / "dither_np8.keras")
    return folder


def test_paper_tables_measure_each_network_where_it_serves(tiny_models, tmp_path, capsys):
    from benchmarks import paper_tables
    from gif_pipeline.io.images import load_image
    from gif_pipeline.metrics import image as metrics
    from gif_pipeline.quant import dithering, palettes

    out = tmp_path / "tables.md"
    assert paper_tables.main(["--images", DATA, "--colors", "8,16", "--out", str(out),
                              "--palette", f"plain={tiny_models / 'palette_np8.keras'}",
                              "--palette", f"nested={tiny_models / 'palette_np16.keras'}",
                              "--dither", f"tiny={tiny_models / 'dither_np8.keras'}", "--dither_colors", "8"]) == 0
    text = out.read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}
    assert rows["16"][1] == "–" and rows["16"][2] != "–"  # the 8-colour net does not serve 16; the nested one does
    pictures = [load_image(os.path.join(DATA, f)).rgb for f in sorted(os.listdir(DATA)) if f.endswith(".png")]
    psnr = []
    for rgb in pictures:
        pal = palettes.make_palette(rgb, 8, "median-cut")
        psnr.append(metrics.psnr(rgb, pal[dithering.remap(rgb, pal, "none")]))
    assert rows["8"][0] == f"{np.mean(psnr):.2f}"
    assert set(rows) >= {"none", "fs", "tiny"} and "## Table 2" in text
    for name in ("none", "fs", "tiny"):  # PSNR, SSIM, WSNR, VMAF, banding
        assert len(rows[name]) == 5 and 0.0 <= float(rows[name][3]) <= 100.0
    from gif_pipeline import encode
    from gif_pipeline.metrics import cambi

    vmaf = []
    for rgb in pictures:  # Table 2's "none" row: the kmeans palette, nearest colour
        pal = encode.PALETTE_STAGES["kmeans"](rgb, 8)
        vmaf.append(cambi.vmaf(rgb, pal[dithering.remap(rgb, pal, "none")]))
    assert rows["none"][3] == f"{np.mean(vmaf):.2f}"

    assert paper_tables.main(["--images", DATA, "--out", str(out), "--no-vmaf", "--limit", "1",
                              "--dither", f"tiny={tiny_models / 'dither_np8.keras'}", "--dither_colors", "8"]) == 0
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.read_text().splitlines() if line.startswith("| ")}
    assert rows["tiny"][3] == "–" and float(rows["tiny"][0]) > 0  # --no-vmaf: no VMAF, the rest measured


def test_paper_tables_reject_bad_model_arguments(tmp_path):
    from benchmarks import paper_tables

    with pytest.raises(SystemExit, match="NAME=PATH"):
        paper_tables.main(["--palette", "no-path"])
    with pytest.raises(SystemExit, match="no model"):
        paper_tables.main(["--palette", f"x={tmp_path / 'missing.keras'}"])


def test_throughput_compares_with_libimagequant_in_the_same_run(tiny_models, tmp_path, monkeypatch):
    pytest.importorskip("imagequant")
    from benchmarks import throughput
    from gif_pipeline import encode

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_models))
    monkeypatch.setenv("GIFNETS_BACKEND", "tf")  # the batch graph of the Keras path
    encode.clear_model_cache()
    out = tmp_path / "throughput.md"
    try:
        assert throughput.main(["--images", DATA, "--colors", "8", "--batch", "2", "--repeats", "1",
                                "--out", str(out)]) == 0
    finally:
        encode.clear_model_cache()
    lines = [line for line in out.read_text().splitlines() if line.startswith("| 8 |")]
    names = [line.split("|")[2].strip() for line in lines]
    assert names[:2] == ["libimagequant d0", "libimagequant d1"]
    assert "gifnets net+kmeans / net" in names and "gifnets net / none" in names and "gifnets net+kmeans / ed" in names
    liq_d0 = float(lines[0].split("|")[3])
    for line in lines:
        rate, cpu_ms = float(line.split("|")[3]), float(line.split("|")[4])
        ratio = float(line.split("|")[5].strip().rstrip("x"))
        assert rate > 0 and cpu_ms >= 0 and ratio == pytest.approx(rate / liq_d0, abs=0.02 + 0.03 * ratio)


@pytest.mark.parametrize("head", ["dense", "slots"])
def test_palette_blind_code_equals_the_network_when_the_head_ignores_the_image(tmp_path, capsys, head):
    import keras

    from benchmarks import palette_blind_code
    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import PaletteNet

    keras.utils.set_random_seed(2)
    if head == "dense":
        net = PaletteNet(PaletteNetConfig.tiny(num_colors=8, output="whitened", input_size=32))
        kernel, bias = net.palette_dense.get_weights()
        net.palette_dense.set_weights([np.zeros_like(kernel), bias])  # the same code z for every image
    else:
        net = PaletteNet(PaletteNetConfig.tiny(num_colors=8, head="slots", input_size=32))
        net.slot_global.set_weights([np.zeros_like(w) for w in net.slot_global.get_weights()])
    net.save(tmp_path / "blind.keras")
    assert palette_blind_code.main(["--model", str(tmp_path / "blind.keras"), "--images", DATA,
                                    "--colors", "4,8"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    table = {int(r[0]): [float(v) for v in r[1:]] for r in rows if r[0].strip().isdigit()}
    assert sorted(table) == [4, 8]
    for own, blind, median_cut in table.values():
        assert own == pytest.approx(blind, abs=0.005) and 5 < own < 60 and 5 < median_cut < 60
    PaletteNet(PaletteNetConfig.tiny(num_colors=8, backbone="pointnet")).save(tmp_path / "pointnet.keras")
    assert palette_blind_code.main(["--model", str(tmp_path / "pointnet.keras"), "--images", DATA]) == 2


def test_kmeans_steps_compares_step_counts_with_libimagequant_on_the_held_out_split(capsys):
    from benchmarks import kmeans_steps

    assert kmeans_steps.main(["--data", DATA, "--count", "2", "--size", "48", "--colors", "8",
                              "--steps", "6,0"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| colours"))
    assert header.split("|")[2:5] == [" 6 steps ", " 0 steps ", " libimagequant d0 "]
    row = next(line for line in out.splitlines() if line.startswith("| 8 |")).split("|")[2:5]
    (db6, ms6), (db0, _), (db_liq, _) = [(float(c.split()[0]), float(c.split(",")[1].split()[0])) for c in row]
    assert 10 < db0 < 60 and 10 < db_liq < 60 and ms6 > 0
    assert db6 > db0  # Lloyd steps from the network's palette lower its error
    assert kmeans_steps.centre_crop(np.zeros((30, 50, 3), np.uint8), 20).shape == (20, 20, 3)
    with pytest.raises(SystemExit, match="--steps"):
        kmeans_steps.main(["--steps", "ten"])


def test_remap_speed_times_both_mappings_with_and_without_tensorflow(capsys):
    from benchmarks import remap_speed

    assert remap_speed.main(["--images", DATA, "--colors", "16,64", "--repeats", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 16 ") or line.startswith("| 64 ")]
    # The worker without TensorFlow exits non-zero if anything it imports loads it, and main returns that code.
    assert [r.split("|")[2].strip() for r in rows] == ["TensorFlow not loaded", "TensorFlow loaded"] * 2
    for row in rows:
        cells = row.split("|")
        ours, pillow = ([float(v) for v in cells[i].split("/")] for i in (3, 4))
        assert min(ours) > 0 and min(pillow) >= 0
        ratio, half = float(cells[5].strip().rstrip("x")), 0.005  # times printed to 0.01 ms
        assert (ours[1] - half) / (pillow[1] + half) - 0.005 <= ratio
        assert pillow[1] <= half or ratio <= (ours[1] + half) / (pillow[1] - half) + 0.005


def test_remap_speed_rejects_bad_arguments():
    from benchmarks import remap_speed

    for argv in (["--colors", "1"], ["--colors", "a,b"], ["--count", "0"]):
        with pytest.raises(SystemExit):
            remap_speed.main(argv)


def test_error_diffusion_speed_prints_a_row_per_size_and_palette(capsys):
    from benchmarks import error_diffusion_speed

    assert error_diffusion_speed.main(["--images", DATA, "--colors", "4,16", "--count", "1", "--repeats", "1",
                                       "--large", "96x80"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "colours" not in line]
    assert [r.split("|")[1].strip().split()[0] for r in rows] == ["256x256", "256x256", "96x80", "96x80"]
    for r in rows:
        assert all(float(v) > 0 for cell in r.split("|")[3:7] for v in cell.split("/"))
    with pytest.raises(SystemExit):
        error_diffusion_speed.main(["--images", DATA, "--large", "0x5"])


def test_lattice_figure_draws_each_dither_and_prints_its_score(tiny_models, tmp_path, monkeypatch, capsys):
    pytest.importorskip("imagequant")
    from PIL import Image

    from benchmarks import lattice_figure
    from gif_pipeline import encode
    from gif_pipeline.metrics import lattice
    from gif_pipeline.quant import dithering

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_models))
    monkeypatch.setenv("GIFNETS_BACKEND", "tf")
    encode.clear_model_cache()
    out = tmp_path / "fig.png"
    try:
        assert lattice_figure.main(["--images", DATA, "--colors", "8", "--dither", f"tiny={tiny_models / 'dither_np8.keras'}",
                                    "--crop-photo", "hopper_64.png", "--crop", "8,8,32", "--out", str(out)]) == 0
        rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in capsys.readouterr().out.splitlines()
                if line.startswith("| ") and not line.startswith("| method")}
        assert list(rows) == ["tiny", "gifnets ed", "libimagequant d1"]
        acc = lattice.LatticeAccumulator()  # the ed row again, outside the script
        for name in sorted(os.listdir(DATA)):
            if name.endswith(".png"):
                with Image.open(os.path.join(DATA, name)) as im:
                    rgb = np.asarray(im.convert("RGB"))
                pal = encode.PALETTE_STAGES["net+kmeans"](rgb, 8)
                acc.add("ed", rgb, pal[dithering.remap(rgb, pal, "ed")])
        assert rows["gifnets ed"] == pytest.approx(acc.score("ed"), abs=0.051)
    finally:
        encode.clear_model_cache()
    with Image.open(out) as sheet:  # original + 3 methods, each a 3x crop wide with 8-px gaps
        assert sheet.size[0] == 4 * (3 * 32 + 8) + 8
    with pytest.raises(SystemExit, match="NAME=PATH"):
        lattice_figure.main(["--images", DATA, "--dither", "bad", "--out", str(out)])


def test_bench_dither_candidates_adds_a_method_per_candidate_in_one_run(tiny_models, tmp_path):
    """Run as a command (it adds dither stages and bench modes to the process): the installed DitherNet and a candidate
    that is the same file give the same GIFs, so the same bytes and PSNR in the summary."""
    import subprocess

    out = tmp_path / "bench"
    env = {**os.environ, "GIFNETS_WEIGHTS": str(tiny_models), "GIFNETS_BACKEND": "tf"}
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_dither_candidates.py"), DATA,
                        "--candidate", f"same={tiny_models / 'dither_np8.keras'}", "--colors", "8", "--no-vmaf",
                        "--methods", "gifnets:net+kmeans:net", "--out", str(out), "--quiet", "--html-examples", "0"],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    first = lines.index("## Np = 8")
    header = [c.strip() for c in lines[first + 2].split("|")[1:-1]]
    rows = {}
    for line in lines[first + 4:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.split("|")[1:-1]]
        rows[cells[0]] = {h: c for h, c in zip(header, cells) if h != "ms/image"}
    assert set(rows) == {"gifnets:net+kmeans:net", "gifnets:net+kmeans:net@same"}
    assert "PSNR dB" in header and "GIF bytes" in header
    assert rows["gifnets:net+kmeans:net"] | {"method": ""} == rows["gifnets:net+kmeans:net@same"] | {"method": ""}
    assert (out / "summary.md").exists()


def test_dither_net_speed_times_each_runtime_file_at_each_thread_count(tmp_path, capsys):
    from benchmarks import dither_net_speed

    shipped = os.path.join(ROOT, "gif_pipeline", "weights", "dither_np16.tflite")
    assert dither_net_speed.main([f"a={shipped}", f"b={shipped}", "--size", "16", "--rounds", "2", "--warmup", "0"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| a") or
            line.startswith("| b")]
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [("a", "1"), ("b", "1"), ("a", "2"), ("b", "2")]
    assert all(float(r[2]) >= float(r[3]) > 0 for r in rows) and rows[0][4].strip() == "1.00x"
    assert dither_net_speed.main([f"a={tmp_path / 'missing.tflite'}"]) == 2
    assert "no file" in capsys.readouterr().err

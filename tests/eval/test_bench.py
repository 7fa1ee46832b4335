"""The benchmark runner: rows, tables, plots and a self-contained HTML page."""
import csv
import math
import os
import re

import numpy as np
import pytest
from PIL import Image

import checks  # noqa: E402
from gif_pipeline.errors import OutputExistsError
from gif_pipeline.eval import bench, peers
from gif_pipeline.metrics import image as metrics

DATA = checks.FIXTURES
METHODS = ["gifnets:median-cut:fs", "pillow-mediancut:*", "libimagequant:d1"]
EXPANDED = ["gifnets:median-cut:fs", "pillow-mediancut:none", "pillow-mediancut:fs", "libimagequant:d1"]


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    os.makedirs(root / "sub")
    for name, dst in (("hopper_64.png", "a.png"), ("retina_64.png", "sub/b.png")):
        with Image.open(os.path.join(DATA, name)) as im:
            im.convert("RGB").crop((0, 0, 48, 48)).save(root / dst)
    (root / "notes.csv").write_text("not,an,image\n")
    return str(root)


@pytest.fixture(scope="module")
def report(images_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench_out"))
    return bench.run(images_dir, colors=(16,), methods=METHODS, out_dir=out, vmaf=False, html_examples=2,
                     progress=False), out


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rows_cover_every_image_and_method(report, images_dir):
    rep, out = report
    assert rep.images == ["a.png", os.path.join("sub", "b.png")]
    rows = _read_csv(os.path.join(out, "results.csv"))
    assert len(rows) == 2 * len(EXPANDED)
    assert {(r["image"], r["method"]) for r in rows} == {(i, m) for i in rep.images for m in EXPANDED}
    for r in rows:
        assert r["error"] == "" and r["colors"] == "16"
        assert 1 <= int(r["colors_used"]) <= 16
        assert float(r["psnr"]) > 20 and 0 < float(r["ssim"]) <= 1 and math.isfinite(float(r["wsnr"]))
        assert int(r["gif_bytes"]) > 0 and float(r["ms"]) > 0
        assert r["vmaf"] == "" and r["cambi"] == ""  # --no-vmaf
        assert 0.0 <= float(r["banding"]) <= 1.0  # the teacher runs without ffmpeg
        assert r["kind"] == ("gifnets" if r["method"].startswith("gifnets:") else "peer")


def test_rows_match_an_independent_run(report, images_dir):
    rep, out = report
    rows = {(r["image"], r["method"]): r for r in _read_csv(os.path.join(out, "results.csv"))}
    with Image.open(os.path.join(images_dir, "sub", "b.png")) as im:
        rgb = np.asarray(im.convert("RGB"))
    again = peers.run_peer("pillow-mediancut:fs", rgb, 16)
    row = rows[(os.path.join("sub", "b.png"), "pillow-mediancut:fs")]
    assert int(row["gif_bytes"]) == len(again.gif_bytes)
    assert float(row["psnr"]) == pytest.approx(metrics.psnr(rgb, again.rgb), rel=1e-5)
    assert float(row["wsnr"]) == pytest.approx(metrics.wsnr(rgb, again.rgb), rel=1e-5)
    assert float(row["wsnr120"]) == pytest.approx(metrics.wsnr(rgb, again.rgb, pixels_per_deg=120), rel=1e-5)
    assert float(row["wsnr120"]) != pytest.approx(float(row["wsnr"]), rel=1e-3)  # another viewing distance
    from gif_pipeline.metrics.banding import banding_score

    assert float(row["banding"]) == pytest.approx(banding_score(again.rgb), abs=1e-6)


def test_summary_is_the_mean_over_images(report):
    rep, out = report
    text = open(os.path.join(out, "summary.md"), encoding="utf-8").read()
    assert "## Np = 16" in text
    rows = _read_csv(os.path.join(out, "results.csv"))
    for m in EXPANDED:
        line = next(l for l in text.splitlines() if l.startswith(f"| {m} |"))
        mean_psnr = np.mean([float(r["psnr"]) for r in rows if r["method"] == m])
        assert f"{mean_psnr:.2f}" in line.split("|")[2]
        entry = next(s for s in rep.summary if s["method"] == m)
        assert entry["images"] == 2 and entry["psnr"] == pytest.approx(mean_psnr, rel=1e-5)
    assert "VMAF" not in text.split("## Np = 16")[1].splitlines()[2]  # no empty VMAF column
    assert "| lattice |" in text.split("## Np = 16")[1].splitlines()[2]


def test_lattice_score_is_that_of_the_methods_error_spectra(report, images_dir):
    from gif_pipeline.metrics import lattice

    rep, _ = report
    acc = lattice.LatticeAccumulator()
    for image in sorted({r["image"] for r in _read_csv(os.path.join(report[1], "results.csv"))}):
        with Image.open(os.path.join(images_dir, image)) as im:
            rgb = np.asarray(im.convert("RGB"))
        acc.add("fs", rgb, peers.run_peer("pillow-mediancut:fs", rgb, 16).rgb)
    entry = next(s for s in rep.summary if s["method"] == "pillow-mediancut:fs")
    assert entry["lattice"] == pytest.approx(acc.score("fs"), rel=1e-6) and entry["lattice"] > 0


def test_plots_are_pngs(report):
    _, out = report
    for name in ("quality_vs_np.png", "quality_vs_bytes.png"):
        with Image.open(os.path.join(out, name)) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200


def test_html_references_only_local_files(report):
    _, out = report
    page = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    srcs = re.findall(r'src="([^"]+)"', page)
    # 2 examples x (original + median-cut+FS + libimagequant + gifnets) x (full + crop), and each GIF's error spectrum
    assert len(srcs) == 2 * 4 * 2 + 2 * 3
    assert len([s for s in srcs if s.endswith("_spectrum.png")]) == 2 * 3
    for ref in refs:
        assert not re.match(r"^[a-z]+://", ref) and not ref.startswith("/")
        if not ref.startswith("data:"):
            assert os.path.isfile(os.path.join(out, ref)), ref
    for label in ("original", "pillow-mediancut:fs", "libimagequant:d1", "gifnets:median-cut:fs"):
        assert f"<th>{label}</th>" in page
    gifs = [s for s in srcs if s.endswith(".gif")]
    assert len(gifs) == 6
    with Image.open(os.path.join(out, gifs[0])) as im:
        assert im.format == "GIF" and im.size == (48, 48)


def test_existing_reports_need_force(report, images_dir):
    _, out = report
    with pytest.raises(OutputExistsError, match="--force"):
        bench.run(images_dir, colors=(16,), methods=["pillow-mediancut:none"], out_dir=out, vmaf=False,
                  progress=False)


def test_bad_arguments(images_dir, tmp_path):
    with pytest.raises(bench.BenchError, match="no method matches"):
        bench.run(images_dir, methods=["photoshop"], out_dir=str(tmp_path), vmaf=False, progress=False)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(bench.BenchError, match="no images"):
        bench.run(str(tmp_path / "empty"), out_dir=str(tmp_path / "o"), vmaf=False, progress=False)
    with pytest.raises(bench.BenchError, match="not a directory"):
        bench.run(str(tmp_path / "missing"), out_dir=str(tmp_path / "o"), vmaf=False, progress=False)
    with pytest.raises(ValueError, match="2..256"):
        bench.run(images_dir, colors=(300,), out_dir=str(tmp_path / "o"), vmaf=False, progress=False)


def test_unavailable_methods_are_listed_not_run(images_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    rep = bench.run(images_dir, colors=(8,), methods=["pngquant:*", "pillow-mediancut:none"], out_dir=str(tmp_path),
                    vmaf=False, max_images=1, html_examples=0, progress=False)
    assert set(rep.skipped) == {"pngquant:nofs", "pngquant:fs"}
    assert {r["method"] for r in rep.rows} == {"pillow-mediancut:none"} and len(rep.rows) == 1
    text = open(rep.files["summary"], encoding="utf-8").read()
    assert "## Skipped methods" in text and "pngquant:nofs" in text


def test_gifnets_modes_follow_encode_stages():
    from gif_pipeline import encode

    table = bench.method_table()
    for palette, dither in bench.GIFNETS_MODES:
        m = table[bench.gifnets_method_name(palette, dither)]
        expected = palette in encode.PALETTE_STAGES and dither in encode.DITHER_STAGES
        assert (m.unavailable() is None) == expected
    assert all(name in table for name in peers.PEERS)


def test_smooth_crop_box_finds_the_gradient():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(64, 96, 3)).astype(np.uint8)  # noisy everywhere ...
    img[:, 64:] = 128  # ... but a flat strip (no banding to show) ...
    ramp = np.linspace(40, 80, 32).astype(np.uint8)
    img[16:48, 16:48] = ramp[None, :, None]  # ... and one smooth gradient
    top, left = bench.smooth_crop_box(img, 16)
    assert 16 <= top <= 32 and 16 <= left <= 32
    flat = np.full((32, 32, 3), 7, np.uint8)
    assert bench.smooth_crop_box(flat, 8) == (0, 0)  # all flat: falls back to the least energy


def test_main_cli(images_dir, tmp_path, capsys):
    out = str(tmp_path / "cli")
    code = bench.main([images_dir, "--colors", "8", "--methods", "pillow-mediancut:none", "--no-vmaf", "--quiet",
                       "--max-images", "1", "--html-examples", "1", "--out", out])
    assert code == 0
    assert "## Np = 8" in capsys.readouterr().out
    assert len(_read_csv(os.path.join(out, "results.csv"))) == 1
    assert bench.main([images_dir, "--methods", "nope", "--out", out, "--quiet"]) == 2
    assert "no method matches" in capsys.readouterr().err


def test_vmaf_column_on_small_images(images_dir, tmp_path):
    rep = bench.run(images_dir, colors=(16,), methods=["pillow-mediancut:none"], out_dir=str(tmp_path),
                    max_images=1, html_examples=0, progress=False)
    (row,) = rep.rows
    assert row["error"] == "" and 0 <= row["vmaf"] <= 100
    assert math.isnan(row["cambi"])  # CAMBI needs a longer side >= 216 px


@pytest.mark.slow
def test_vmaf_and_cambi_at_full_size(tmp_path):
    os.makedirs(tmp_path / "imgs")
    with Image.open(os.path.join(DATA, "hopper_64.png")) as im:
        im.convert("RGB").resize((224, 224), Image.BICUBIC).save(tmp_path / "imgs" / "h.png")
    rep = bench.run(str(tmp_path / "imgs"), colors=(8, 64), methods=["pillow-mediancut:none"],
                    out_dir=str(tmp_path / "o"), html_examples=0, progress=False)
    by_n = {r["colors"]: r for r in rep.rows}
    assert all(r["error"] == "" for r in rep.rows)
    assert by_n[64]["vmaf"] > by_n[8]["vmaf"]
    assert by_n[8]["cambi"] >= 0 and math.isfinite(by_n[64]["cambi"])


def test_html_page_shows_the_default_dither_of_each_palette_size(images_dir, tmp_path):
    """The page's gifnets column is what ``--dither auto`` runs at that Np: DitherNet at 16, ``ed`` at 32."""
    out = str(tmp_path / "o")
    bench.run(images_dir, colors=(16, 32), methods=["libimagequant:d1", "gifnets:net+kmeans:net", "gifnets:net+kmeans:ed"],
              out_dir=out, vmaf=False, max_images=1, html_examples=1, html_colors=(16, 32), progress=False)
    page = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    gifs = re.findall(r'src="(html/[^"]+_np(\d+)_([^"]+)\.gif)"', page)
    shown = {(int(n), slug) for _, n, slug in gifs if "gifnets" in slug}
    assert shown == {(16, bench._slug("gifnets:net+kmeans:net")), (32, bench._slug("gifnets:net+kmeans:ed"))}, gifs

"""The animation bench's target lines: peer points against the gifnets curves (log-linear in bytes)."""
from __future__ import annotations

import math
import os

from gif_pipeline.eval import animation_bench as ab


def row(method, size, psnr, vmaf, flicker=0.2, seconds=1.0):
    return {"method": method, "bytes": size, "psnr": psnr, "vmaf": vmaf, "flicker": flicker, "seconds": seconds}


def test_targets_count_peer_points_under_the_best_curve_and_each_setting_alone():
    rows = [
        # the default: 30 dB at 1,000 bytes, 40 dB at 4,000 bytes (35 dB at 2,000 on the log-linear curve)
        row("gifnets q50", 1000, 30.0, 80.0), row("gifnets q90", 4000, 40.0, 95.0, seconds=2.0),
        # --lossy: better than the default at 2,000 bytes, and its largest file is 3,000 bytes
        row("gifnets-lossy q50", 1000, 33.0, 84.0), row("gifnets-lossy q90", 3000, 38.0, 92.0),
        row("gifski q70", 2000, 36.0, 89.0),  # above the default (35 dB, 87.5), below --lossy (36.15 dB, 89.05)
        row("gifski q90", 3000, 37.0, 96.0, flicker=0.3, seconds=4.0),  # VMAF above both curves (91.9 / 92.0)
    ]
    lines = ab.targets(rows)
    psnr, vmaf, flicker, speed = lines
    assert "PSNR per byte" in psnr and "**met** (2/2 points" in psnr
    assert "default alone 1/2, --lossy alone 2/2" in psnr
    assert "VMAF per byte" in vmaf and "**not met** (1/2 points" in vmaf and "gifski q90: -4.00" in vmaf
    assert "default alone 0/2, --lossy alone 1/2" in vmaf
    assert "**met**" in flicker and "**met**" in speed and "(0.50x)" in speed


def test_wins_with_no_curve_reaching_a_size():
    rows = [row("gifnets q50", 1000, 30.0, math.nan), row("gifski q50", 500, 25.0, math.nan)]
    families = {"gifnets": rows[:1]}
    assert ab._wins(rows, families, "psnr") == (0, 1, ("gifski q50", None))  # smaller than any gifnets file
    assert ab._wins(rows, families, "vmaf") == (0, 0, None)


def test_colour_lines_compare_the_default_at_gifskis_sizes():
    rows = [{**row("gifnets q50", 1000, 30.0, 80.0), "colour": 4.0},
            {**row("gifnets q90", 4000, 40.0, 95.0), "colour": 1.0},
            {**row("gifski q50", 2000, 33.0, 85.0), "colour": 1.5},   # the default there: 2.5 (log-linear)
            {**row("gifski q90", 500, 36.0, 90.0), "colour": 3.0}]    # smaller than the default's smallest file
    lines = [x for x in ab.targets(rows) if "colour" in x]
    assert len(lines) == 2
    assert "gifski q50's size" in lines[0] and "gifnets 2.50 vs gifski 1.50" in lines[0]
    assert "gifnets n/a" in lines[1] and "vs gifski 3.00" in lines[1]


def test_a_vmaf_neg_line_only_where_it_was_measured():
    rows = [{**row("gifnets q50", 1000, 30.0, 80.0), "vmaf_neg": 78.0},
            {**row("gifnets q90", 4000, 40.0, 95.0), "vmaf_neg": 94.0},
            {**row("gifski q90", 2000, 33.0, 90.0), "vmaf_neg": 85.0}]  # the default there: 87.5 VMAF, 86.0 NEG
    lines = ab.targets(rows)
    neg = [x for x in lines if x.startswith("- VMAF NEG")]
    assert len(neg) == 1 and "**met** (1/1 points" in neg[0] and "gifski q90: +1.00" in neg[0]
    assert any(x.startswith("- VMAF per byte") and "**not met**" in x for x in lines)
    assert not any("NEG" in x for x in ab.targets([{k: v for k, v in r.items() if k != "vmaf_neg"} for r in rows]))


def test_a_near_tie_is_shown_with_three_decimals():
    rows = [row("gifnets q90", 1000, 30.0, 99.927), row("gifski q100", 1100, 29.0, 99.933)]
    vmaf = [x for x in ab.targets(rows) if x.startswith("- VMAF per byte")][0]
    assert "**not met** (0/1 points" in vmaf and "gifski q100: -0.006" in vmaf


def test_the_page_plays_the_gifs_on_disk_in_its_order_with_both_vmafs(tmp_path):
    clip = ab.Clip("pan", "synthetic", 25.0, [], "a pan")
    os.makedirs(tmp_path / "html")
    for name in ("gifski q90", "gifnets q50", "gifski q50"):  # gifnets-lossy q50's GIF is not on disk
        (tmp_path / "html" / f"pan_{name.replace(' ', '_')}.gif").write_bytes(b"GIF89a")
    rows = [{**row("gifski q90", 3000, 36.0, 99.5), "vmaf_neg": 98.0, "colour": 0.5},
            {**row("gifnets q50", 1000, 30.0, 92.8), "vmaf_neg": math.nan, "colour": 1.3},
            {**row("gifnets-lossy q50", 900, 31.0, 83.6), "vmaf_neg": 80.0, "colour": 1.4}]
    cells = ab._page_cells(clip, rows, str(tmp_path))
    assert [c[0] for c in cells] == ["source (first frame, PNG)", "gifnets q50", "gifski q90"]  # gifski q50: no row
    page = ab.html_page([(clip, cells)], "run info")
    assert "VMAF 99.50 (NEG 98.00)" in page and "VMAF 92.80, colour" in page
    assert page.index("pan_gifnets_q50.gif") < page.index("pan_gifski_q90.gif")

"""Quality of an animation against its source frames: mean PSNR, flicker, colour error, VMAF (ffmpeg libvmaf over the
clip), and the frames a GIF shows at the source's frame times (GIFs may merge or drop frames)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from typing import Sequence

import numpy as np

#: Source pixels that change by less than this many levels (max over R, G, B) count as still for :func:`flicker`.
STILL_LEVELS = 3


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b
    mse = float(np.mean(d * d))
    return 100.0 if mse <= 1e-10 else 10.0 * math.log10(255.0 ** 2 / mse)


def mean_psnr(reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray]) -> float:
    """Mean over frames of each frame's PSNR (dB)."""
    if len(reference) != len(distorted) or not reference:
        raise ValueError(f"{len(reference)} reference and {len(distorted)} distorted frames")
    return float(np.mean([psnr(r, d) for r, d in zip(reference, distorted)]))


def flicker(reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray], still: int = STILL_LEVELS) -> float:
    """Mean absolute change of the output between consecutive frames (levels, mean over R, G, B) on the pixels whose
    source changed by less than ``still`` levels: still areas should stay still (0 = they do)."""
    total, count = 0.0, 0
    for t in range(1, len(reference)):
        src = np.abs(reference[t].astype(np.int16) - reference[t - 1]).max(axis=2) < still
        n = int(src.sum())
        if n == 0:
            continue
        out = np.abs(distorted[t].astype(np.int16) - distorted[t - 1]).mean(axis=2)
        total += float(out[src].sum())
        count += n
    return total / count if count else 0.0


#: :func:`colour_error`'s blur (pixels): dither dots merge, a colour cast or a missing hue stays.
COLOUR_SIGMA = 1.5


def blurred_lab(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """CIELAB (D65) of ``rgb`` blurred in linear light by a Gaussian of ``sigma`` pixels, every second row and column
    (the blur leaves nothing finer)."""
    from scipy import ndimage
    from skimage import color

    x = rgb.astype(np.float32) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    lin = np.stack([ndimage.gaussian_filter(lin[..., c], sigma, mode="nearest") for c in range(3)], -1)[::2, ::2]
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.maximum(lin, 0) ** (1 / 2.4) - 0.055)
    return color.rgb2lab(np.clip(srgb, 0, 1))


def colour_error(reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray],
                 sigma: float = COLOUR_SIGMA, reference_lab: Sequence[np.ndarray] | None = None) -> float:
    """Mean CIEDE2000 difference between the source and the output frames, both blurred in linear light
    (:data:`COLOUR_SIGMA`): how far off the colours look once dither dots merge. VMAF reads luma only and PSNR
    counts the dots; a cast (a grey turned blue) or a hue the palette lacks shows here. ``reference_lab``: the
    reference's :func:`blurred_lab` at ``sigma``, for a caller that scores many outputs of one source. Needs scipy
    and scikit-image (the ``bench`` extra)."""
    from skimage import color

    if len(reference) != len(distorted) or not reference:
        raise ValueError(f"{len(reference)} reference and {len(distorted)} distorted frames")
    ref = reference_lab if reference_lab is not None else [blurred_lab(r, sigma) for r in reference]
    return float(np.mean([color.deltaE_ciede2000(r, blurred_lab(d, sigma)).mean() for r, d in zip(ref, distorted)]))


def frames_at(frames: Sequence[np.ndarray], delays_cs: Sequence[int], times_s: Sequence[float]) -> list[np.ndarray]:
    """The frame a GIF shows at each time (seconds): the last frame that started at or before it (1/100 s grid)."""
    starts = np.concatenate([[0], np.cumsum(delays_cs)[:-1]]) if len(delays_cs) else np.zeros(0)
    out = []
    for t in times_s:
        i = int(np.searchsorted(starts, math.floor(t * 100 + 0.5), side="right")) - 1
        out.append(frames[max(0, min(i, len(frames) - 1))])
    return out


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


#: libvmaf's models by the names :func:`vmaf_scores` gives them: the default model, and its "no enhancement gain"
#: variant (NEG), which Netflix recommends for comparing codecs: the default model rewards a distorted frame that is
#: sharper or more contrasted than its source (sharpening a GIF frame by 0.1 x its high-pass scored above the lossless
#: frame), NEG does not.
VMAF_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}


def vmaf_scores(reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray], threads: int = 2,
                models: Sequence[str] = ("vmaf",)) -> dict[str, float]:
    """Pooled (mean) VMAF of the clip by each of ``models`` (keys of :data:`VMAF_MODELS`), one libvmaf pass on BT.601
    YUV 4:4:4 (as :mod:`gif_pipeline.metrics.cambi` does for stills): ``{name: score}``."""
    unknown = [m for m in models if m not in VMAF_MODELS]
    if unknown or not models:
        raise ValueError(f"models must be among {sorted(VMAF_MODELS)}, got {list(models)}")
    h, w = reference[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="gifnets_vmaf_") as tmp:
        for name, frames in (("ref.rgb", reference), ("dist.rgb", distorted)):
            with open(os.path.join(tmp, name), "wb") as f:
                for fr in frames:
                    f.write(np.ascontiguousarray(fr, np.uint8).tobytes())
        chain = "scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv444p"
        spec = "|".join(f"version={VMAF_MODELS[m]}\\\\:name={m}" for m in models)
        graph = (f"[0:v]{chain}[d];[1:v]{chain}[r];[d][r]libvmaf=model={spec}:log_fmt=json:log_path=log.json:"
                 f"n_threads={threads}")
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25"]
        cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", *raw, "-i", "dist.rgb", *raw, "-i", "ref.rgb",
               "-lavfi", graph, "-f", "null", "-"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"libvmaf failed: {proc.stderr.strip()[-300:]}")
        with open(os.path.join(tmp, "log.json")) as f:
            log = json.load(f)
    return {m: float(log["pooled_metrics"][m]["mean"]) for m in models}


def vmaf(reference: Sequence[np.ndarray], distorted: Sequence[np.ndarray], threads: int = 2) -> float:
    """Pooled (mean) VMAF of the clip, libvmaf's default model (:func:`vmaf_scores`)."""
    return vmaf_scores(reference, distorted, threads)["vmaf"]

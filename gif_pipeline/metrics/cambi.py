"""Netflix CAMBI and VMAF through the ffmpeg binary shipped in the ``imageio-ffmpeg`` wheel.

CAMBI (Contrast Aware Multiscale Banding Index; Tandon et al., PCS 2021) is the independent
banding metric that the banding teacher (:mod:`gif_pipeline.metrics.banding`) is cross-checked
against (issue 4). It runs inside libvmaf, which ffmpeg exposes as the ``libvmaf`` filter.

How it is invoked (one ffmpeg process per call, no network)::

    ffmpeg -i distorted.png -i reference.png -lavfi \
      "[0:v]scale=...:out_color_matrix=bt601:out_range=tv,format=yuv444p[d];
       [1:v]...[r];[d][r]libvmaf=log_fmt=json:log_path=log.json:
       feature=name=cambi\\:max_log_contrast=5" -f null -

* The libvmaf filter always takes two inputs (distorted first, reference second) and always
  computes the VMAF model as well. CAMBI is no-reference by default (``full_ref=false``): it
  reads only the distorted input, so :func:`cambi` feeds the image as both inputs unless a
  reference is given. The per-frame score is read from the JSON log (``frames[0].metrics``);
  the key is ``cambi`` for the default contrast and ``cambi_mlc_<n>`` otherwise.
* RGB is converted to BT.601 limited-range ("tv") YUV 4:4:4 explicitly, the same luma the
  banding teacher uses (MATLAB ``rgb2ycbcr``, as in BBAND's ``video_band_detect.m``). CAMBI
  then works on 10-bit luma (8-bit values shifted left by 2, then a 2x2 "anti-dithering"
  average, which libvmaf applies to 8-bit input only; see ``bit_depth`` in :func:`cambi`).
* ``max_log_contrast=5``: CAMBI looks for steps of 1..2**max_log_contrast 10-bit codes. The
  default 2 (up to 1 8-bit code) is meant for compression banding and misses GIF palette steps;
  5 covers steps up to 8 8-bit codes (the libvmaf maximum).
* CAMBI's window (about 1 degree: 63-65 px at 3840 px width, depending on the libvmaf
  version) is scaled with the image width, so a 256 px image is treated as if shown
  full-screen.
* Known behaviour on palette images (``results/banding_teacher_vs_cambi.md``): steps larger
  than 8 codes are outside CAMBI's range, so 8-colour images without dithering often score
  low, and strong Floyd-Steinberg dither at 8-16 colours scores *higher* than no dithering
  (the 2x2 average turns the dither into fine steps).

Size limits of the bundled libvmaf (found by probing this build, see ``MIN_SIDE_VMAF`` and
``MIN_LONG_SIDE_CAMBI``): images with a side below 17 px crash ffmpeg, and CAMBI refuses
images whose longer side is below 216 px. Both raise :class:`VmafInputError` up front.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image

from gif_pipeline.errors import GifnetsError

#: Smallest side libvmaf handles in this ffmpeg build (16 px segfaults ffmpeg; probed).
MIN_SIDE_VMAF = 17
#: CAMBI fails to initialise when both sides are below 216 px (probed on this build; upstream
#: libvmaf's ``CAMBI_MIN_WIDTH_HEIGHT``).
MIN_LONG_SIDE_CAMBI = 216
#: CAMBI's ``max_log_contrast`` for GIF-size steps (issue 4); libvmaf accepts 0..5.
DEFAULT_MAX_LOG_CONTRAST = 5
#: Seconds before an ffmpeg call is abandoned.
FFMPEG_TIMEOUT_S = 120


class VmafError(GifnetsError):
    """ffmpeg/libvmaf is missing or failed."""


class VmafInputError(VmafError, ValueError):
    """The input images cannot be measured (wrong dtype/shape, too small, sizes differ)."""


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - dependency is installed system-wide
        raise VmafError("CAMBI/VMAF need the imageio-ffmpeg package (pip install imageio-ffmpeg)") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_rgb(name: str, image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise VmafInputError(f"{name} must be a uint8 [H, W, 3] RGB array, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE_VMAF:
        raise VmafInputError(
            f"{name} is {w}x{h}; libvmaf needs both sides >= {MIN_SIDE_VMAF} px")
    return image


_PIXEL_FORMATS = {8: "yuv444p", 10: "yuv444p10le"}


def _yuv_chain(label_in: str, label_out: str, bit_depth: int) -> str:
    return (f"[{label_in}]scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+full_chroma_int,"
            f"format={_PIXEL_FORMATS[bit_depth]}[{label_out}]")


def libvmaf_metrics(distorted, reference, features: tuple[str, ...] = (), bit_depth: int = 8) -> dict[str, float]:
    """Run ffmpeg's libvmaf filter once; return frame 0's metrics (VMAF model plus ``features``).

    ``features`` are libvmaf feature specs such as ``"name=cambi:max_log_contrast=5"``.
    ``bit_depth`` (8 or 10) is the depth of the YUV 4:4:4 handed to libvmaf.
    """
    if bit_depth not in _PIXEL_FORMATS:
        raise ValueError(f"bit_depth must be 8 or 10, got {bit_depth}")
    distorted = _check_rgb("distorted", distorted)
    reference = _check_rgb("reference", reference)
    if distorted.shape != reference.shape:
        raise VmafInputError(f"distorted {distorted.shape} and reference {reference.shape} differ in size")
    with tempfile.TemporaryDirectory(prefix="gifnets_vmaf_") as tmp:
        Image.fromarray(distorted).save(os.path.join(tmp, "distorted.png"))
        Image.fromarray(reference).save(os.path.join(tmp, "reference.png"))
        opts = ["log_fmt=json", "log_path=log.json"]
        # Two escaping levels: ':' inside an option value -> '\:' for the option parser, and the
        # backslash itself escaped once more for the filtergraph parser.
        opts += ["feature=" + spec.replace(":", "\\\\:") for spec in features]
        graph = ";".join([_yuv_chain("0:v", "d", bit_depth), _yuv_chain("1:v", "r", bit_depth),
                          "[d][r]libvmaf=" + ":".join(opts)])
        cmd = [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
               "-i", "distorted.png", "-i", "reference.png", "-lavfi", graph, "-f", "null", "-"]
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise VmafError(f"ffmpeg/libvmaf timed out after {FFMPEG_TIMEOUT_S} s") from e
        log_path = os.path.join(tmp, "log.json")
        # ffmpeg may write a log even when a feature failed, so the exit code is checked first.
        if proc.returncode != 0 or not os.path.exists(log_path):
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise VmafError(f"ffmpeg libvmaf failed (exit {proc.returncode}): {tail}")
        with open(log_path) as f:
            log = json.load(f)
    try:
        return {k: float(v) for k, v in log["frames"][0]["metrics"].items()}
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise VmafError(f"unexpected libvmaf log layout: {e}") from e


def _cambi_key(metrics: dict[str, float], max_log_contrast: int) -> float:
    key = "cambi" if max_log_contrast == 2 else f"cambi_mlc_{max_log_contrast}"
    if key in metrics:
        return metrics[key]
    candidates = [k for k in metrics if k.startswith("cambi")]
    if len(candidates) == 1:
        return metrics[candidates[0]]
    raise VmafError(f"no CAMBI score in libvmaf log (keys: {sorted(metrics)})")


def cambi(image, reference=None, max_log_contrast: int = DEFAULT_MAX_LOG_CONTRAST, bit_depth: int = 8) -> float:
    """No-reference CAMBI banding score of a uint8 RGB image (0 = no banding, larger = worse).

    ``reference`` only satisfies libvmaf's two-input interface (CAMBI ignores it in its default
    no-reference mode); by default the image itself is used.

    ``bit_depth=8`` (default) hands libvmaf 8-bit luma, as for any 8-bit source; CAMBI then
    applies its 2x2 "anti-dithering" average before looking for bands. ``bit_depth=10`` converts
    RGB to 10-bit luma instead, for which libvmaf skips that filter (it is applied to 8-bit input
    only). The filter targets low-amplitude dither noise; on palette images with strong
    Floyd-Steinberg dither it turns the dither into fine steps that CAMBI scores as banding.
    """
    if not 0 <= int(max_log_contrast) <= 5:
        raise ValueError(f"max_log_contrast must be in 0..5, got {max_log_contrast}")
    image = _check_rgb("image", image)
    if max(image.shape[:2]) < MIN_LONG_SIDE_CAMBI:
        raise VmafInputError(
            f"image is {image.shape[1]}x{image.shape[0]}; CAMBI in libvmaf needs the longer side "
            f">= {MIN_LONG_SIDE_CAMBI} px (upscale it first, e.g. with nearest neighbour)")
    reference = image if reference is None else reference
    metrics = libvmaf_metrics(image, reference, (f"name=cambi:max_log_contrast={int(max_log_contrast)}",),
                              bit_depth=bit_depth)
    return _cambi_key(metrics, int(max_log_contrast))


def vmaf(reference, distorted) -> float:
    """VMAF (model vmaf_v0.6.1, libvmaf's default) of ``distorted`` against ``reference``, 0..100."""
    metrics = libvmaf_metrics(distorted, reference)
    if "vmaf" not in metrics:
        raise VmafError(f"no VMAF score in libvmaf log (keys: {sorted(metrics)})")
    return metrics["vmaf"]


def vmaf_and_cambi(reference, distorted, max_log_contrast: int = DEFAULT_MAX_LOG_CONTRAST) -> tuple[float, float]:
    """``(vmaf(reference, distorted), cambi(distorted))`` from a single ffmpeg run."""
    distorted = _check_rgb("distorted", distorted)
    if max(distorted.shape[:2]) < MIN_LONG_SIDE_CAMBI:
        raise VmafInputError(f"CAMBI in libvmaf needs the longer side >= {MIN_LONG_SIDE_CAMBI} px")
    metrics = libvmaf_metrics(distorted, reference, (f"name=cambi:max_log_contrast={int(max_log_contrast)}",))
    return metrics["vmaf"], _cambi_key(metrics, int(max_log_contrast))

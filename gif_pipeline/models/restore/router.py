"""The dither router: is this GIF dithered? From the GIF's own pixels, in numpy (no TensorFlow, no LiteRT).

A GIF made without dithering maps every pixel to its nearest palette colour: its colours form flat regions cut by
contour lines, and a pixel that differs from its neighbours differs because the photo does (texture, edges).
A dithered GIF mixes palette colours in smooth regions: isolated dots, checkerboards, two or three colours in a
2x2 window, colour pairs next to each other that no contour would put there, a periodic pattern (Bayer). The
statistics of :func:`features` measure these on the exact colours of the frame (at most a centre ``SIDE`` x
``SIDE`` crop), several of them per 8x8 block and only where the block is smooth, so that the texture of a plain
GIF at 256 colours is told from dither; a small fitted model (:class:`Router`: standardized features -> logistic
regression or a one-hidden-layer tanh MLP) turns them into P(dithered).

The parameters live in a small JSON file (``dither_router.json`` in the weights folder, with a card; fitted by
``trainers/fit_dither_router``). :func:`load` finds it through the weight registry (checked against its sha256).
"""
from __future__ import annotations

import functools
import json

import numpy as np

from gif_pipeline.quant.dithering import distinct_colours

__all__ = ["SIDE", "FEATURE_NAMES", "TRANSFORMS", "features", "Router", "read", "load", "FORMAT"]

#: The router reads at most this many pixels per side (a centre crop), like the CNN classifier.
SIDE = 512
FORMAT = 1
#: A GIF frame has at most 256 colours; an image with more is reduced to at most this many first (:func:`features`).
MAX_COLORS = 256
_BLOCK = 8

FEATURE_NAMES = (
    "log2_colors",  # distinct colours of the crop
    "change",  # share of neighbour pairs (row and column) with different colours
    "spike",  # share of pixels whose two neighbours agree with each other but not with it
    "spike_per_change",
    "spike2_per_change",  # the same at distance 2 (the neighbours 2 px away agree, the pixel differs)
    "dot",  # share of pixels unlike all four neighbours, which agree
    "checker",  # share of 2x2 windows a b / b a with a != b
    "win3",  # share of 2x2 windows with three or four colours
    "win3_per_active",  # ... among windows with more than one colour
    "lag2_excess",  # P(x == x+2) - P(x == x+1)
    "lag4_excess",
    "lag8_excess",
    "step_median",  # median colour distance of differing neighbours / the palette's median nearest-colour distance
    "step_small",  # share of differing neighbours at most 1.5 palette spacings apart
    "not_nearest",  # share of changing pixels for which a neighbour's colour is nearer the 3x3 mean than their own
    "pairs_per_color",  # distinct adjacent colour pairs / colours
    "pair_entropy",  # H(right | left) of adjacent colours, bits
    "active_blocks",  # share of 8x8 blocks with any colour change
    "block_spike_ratio_median",  # median over active blocks of spikes / changes
    "block_spike_ratio_q25",
    "block_spike_ratio_q75",
    "smooth_blocks",  # share of active blocks that are smooth (block mean near its neighbours' mean)
    "smooth_spike_ratio",  # spikes / changes in smooth active blocks
    "smooth_win3",  # 3-4 colour windows / active windows in smooth blocks
    "texture_spike_ratio",  # spikes / changes in the other active blocks
    "hf_energy",  # mean squared (luma - 3x3 mean) / palette spacing^2
    "hf_smooth",  # the same in smooth blocks
    # Neighbour changes / the changes expected if the block's pixels were placed independently (1 - sum of squared
    # colour shares): ~1 for noise quantized without dither (white), > 1 for error diffusion and ordered dither
    # (blue: neighbours alternate), < 1 for flat regions cut by contours.
    "alternation",  # over the active blocks
    "alternation_smooth",  # over the smooth active blocks
    "alternation_median",  # median over active blocks of each block's ratio
)


def _crop(rgb: np.ndarray, side: int = SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return rgb[y:y + side, x:x + side]


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 mean (edge-replicated) of a float ``[H, W(, C)]`` array."""
    p = np.pad(a, [(1, 1), (1, 1)] + [(0, 0)] * (a.ndim - 2), mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def _safe(num, den):
    return float(num) / float(den) if den else 0.0


def _block_sums(mask: np.ndarray, b: int = _BLOCK) -> np.ndarray:
    """Sums of a ``[H, W]`` map over the b x b blocks that fit."""
    h, w = (mask.shape[0] // b) * b, (mask.shape[1] // b) * b
    return mask[:h, :w].reshape(h // b, b, w // b, b).sum(axis=(1, 3), dtype=np.float64)


def features(rgb: np.ndarray, side: int = SIDE) -> np.ndarray:
    """:data:`FEATURE_NAMES` of a decoded GIF frame (uint8 ``[H, W, 3]``; a centre crop of at most ``side``), float64.
    Frames smaller than 4x4 give zeros."""
    rgb = np.ascontiguousarray(_crop(np.asarray(rgb, np.uint8), side))
    h, w = rgb.shape[:2]
    out = np.zeros(len(FEATURE_NAMES))
    if h < 4 or w < 4:
        return out
    colors, inverse, _ = distinct_colours(rgb.reshape(-1, 3))
    for mask in (0xF8, 0xF0, 0xE0, 0xC0, 0x80):
        # Not a GIF frame (a photo given to restore): fewer bits per channel until at most 256 colours, so that the
        # palette statistics below (a K x K distance matrix) stay small.
        if len(colors) <= MAX_COLORS:
            break
        rgb = rgb & np.uint8(mask)
        colors, inverse, _ = distinct_colours(rgb.reshape(-1, 3))
    k = len(colors)
    # Palette indices: uint8 (k <= 256) for the many comparisons below (a quarter of int32's memory traffic); the
    # pair codes use a wide copy.
    idx = inverse.reshape(h, w).astype(np.uint8)
    wide = idx.astype(np.int32)
    palette = colors.astype(np.float32)
    f = {"log2_colors": np.log2(k)}

    # Neighbour differences, spikes (row and column maps are kept in image coordinates for the block statistics).
    ch = idx[:, 1:] != idx[:, :-1]  # [h, w-1]
    cv = idx[1:] != idx[:-1]  # [h-1, w]
    n_pairs = ch.size + cv.size
    changes = ch.sum() + cv.sum()
    f["change"] = changes / n_pairs
    sh = (idx[:, 1:-1] != idx[:, :-2]) & (idx[:, 2:] == idx[:, :-2])  # [h, w-2]: l == r != m
    sv = (idx[1:-1] != idx[:-2]) & (idx[2:] == idx[:-2])
    spikes = sh.sum() + sv.sum()
    f["spike"] = spikes / (sh.size + sv.size)
    f["spike_per_change"] = _safe(spikes, changes)
    sh2 = (idx[:, 2:-2] != idx[:, :-4]) & (idx[:, 4:] == idx[:, :-4])
    sv2 = (idx[2:-2] != idx[:-4]) & (idx[4:] == idx[:-4])
    f["spike2_per_change"] = _safe(sh2.sum() + sv2.sum(), changes)
    c = idx[1:-1, 1:-1]
    up, down, left, right = idx[:-2, 1:-1], idx[2:, 1:-1], idx[1:-1, :-2], idx[1:-1, 2:]
    f["dot"] = np.mean((c != up) & (up == down) & (up == left) & (up == right))
    a, b_, c2, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    f["checker"] = np.mean((a == d) & (b_ == c2) & (a != b_))
    n_distinct = 1 + (b_ != a) + ((c2 != a) & (c2 != b_)) + ((d != a) & (d != b_) & (d != c2))
    active_win = n_distinct > 1
    f["win3"] = np.mean(n_distinct >= 3)
    f["win3_per_active"] = _safe((n_distinct >= 3).sum(), active_win.sum())
    eq1 = 1.0 - f["change"]
    for lag in (2, 4, 8):
        if w > lag and h > lag:
            eq = (np.mean(idx[:, lag:] == idx[:, :-lag]) + np.mean(idx[lag:] == idx[:-lag])) / 2
            f[f"lag{lag}_excess"] = eq - eq1

    # Colour steps between differing neighbours, in palette spacings.
    if k > 1:
        sq = (palette ** 2).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * palette @ palette.T, 0.0)
        np.fill_diagonal(d2, np.inf)
        spacing = float(np.median(np.sqrt(d2.min(axis=1))))
        flat = d2.ravel()
        pairs = np.concatenate([(wide[:, 1:] * k + wide[:, :-1])[ch], (wide[1:] * k + wide[:-1])[cv]]).astype(np.int64)
        dist = np.sqrt(np.take(flat, pairs))
        if dist.size:
            f["step_median"] = float(np.median(dist)) / max(spacing, 1e-6)
            f["step_small"] = float(np.mean(dist <= 1.5 * spacing))
        # Pixels whose own colour is not the nearest (among their 4 neighbours' colours) to the 3x3 mean.
        mean = _box3(rgb.astype(np.float32))[1:-1, 1:-1]
        channels = [np.ascontiguousarray(palette[:, j]) for j in range(3)]

        def d2_to(where):
            return sum((mean[..., j] - np.take(channels[j], where)) ** 2 for j in range(3))

        own = d2_to(c)
        nearer = np.zeros_like(own, dtype=bool)
        for nb in (up, down, left, right):
            nearer |= d2_to(nb) < own - 1e-3
        moving = (c != up) | (c != down) | (c != left) | (c != right)
        f["not_nearest"] = _safe((nearer & moving).sum(), moving.sum())
        # Adjacent colour pairs.
        if pairs.size:
            lo, hi = np.minimum(pairs // k, pairs % k), np.maximum(pairs // k, pairs % k)
            f["pairs_per_color"] = len(np.unique(lo * k + hi)) / k
        joint = np.bincount((wide[:, 1:] * k + wide[:, :-1]).ravel().astype(np.int64), minlength=k * k) if k <= 4096 \
            else None
        if joint is not None:
            p = joint / joint.sum()
            marg = p.reshape(k, k).sum(axis=0)  # P(left)
            nz = p > 0
            hj = -np.sum(p[nz] * np.log2(p[nz]))
            hm = -np.sum(marg[marg > 0] * np.log2(marg[marg > 0]))
            f["pair_entropy"] = hj - hm
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        luma_spacing = max(spacing, 0.5)
        hf = (luma - _box3(luma)) ** 2 / luma_spacing ** 2
        f["hf_energy"] = float(np.mean(hf))

        # Per 8x8 block: changes, spikes, active windows; smooth = the block's mean luma is close to the mean of its
        # 4 neighbour blocks' (in palette luma spacings), i.e. no edge or texture at the block scale.
        B = _BLOCK
        if h >= 3 * B and w >= 3 * B:
            chg_map = np.zeros((h, w), bool)
            chg_map[:, 1:] |= ch
            chg_map[1:] |= cv
            spk_map = np.zeros((h, w), np.int8)
            spk_map[:, 1:-1] += sh
            spk_map[1:-1] += sv
            chg_count = np.zeros((h, w), np.int8)
            chg_count[:, 1:] += ch
            chg_count[1:] += cv
            win3 = np.zeros((h, w), bool)
            win3[:-1, :-1] = n_distinct >= 3
            act = np.zeros((h, w), bool)
            act[:-1, :-1] = active_win
            bc = _block_sums(chg_count)
            bs = _block_sums(spk_map)
            bw3 = _block_sums(win3)
            bact = _block_sums(act)
            bhf = _block_sums(hf)
            bm = _block_sums(luma) / (B * B)
            pad = np.pad(bm, 1, mode="edge")
            around = (pad[:-2, 1:-1] + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:]) / 4
            dev = np.maximum.reduce([np.abs(pad[:-2, 1:-1] - bm), np.abs(pad[2:, 1:-1] - bm),
                                     np.abs(pad[1:-1, :-2] - bm), np.abs(pad[1:-1, 2:] - bm),
                                     np.abs(around - bm)]) / luma_spacing
            active = bc > 0
            f["active_blocks"] = float(np.mean(active))
            if active.any():
                ratio = bs[active] / bc[active]
                q25, q50, q75 = np.percentile(ratio, [25, 50, 75])
                f["block_spike_ratio_median"], f["block_spike_ratio_q25"], f["block_spike_ratio_q75"] = q50, q25, q75
                smooth = active & (dev <= 2.0)
                texture = active & ~smooth
                f["smooth_blocks"] = _safe(smooth.sum(), active.sum())
                f["smooth_spike_ratio"] = _safe(bs[smooth].sum(), bc[smooth].sum())
                f["smooth_win3"] = _safe(bw3[smooth].sum(), bact[smooth].sum())
                f["texture_spike_ratio"] = _safe(bs[texture].sum(), bc[texture].sum())
                f["hf_smooth"] = _safe(bhf[dev <= 2.0].sum(), (dev <= 2.0).sum() * B * B)
                # Per block: sum over colours of squared counts, from one histogram of (block, colour).
                nby, nbx = h // B, w // B
                block_id = (np.arange(nby * B)[:, None] // B) * nbx + (np.arange(nbx * B)[None, :] // B)
                hist = np.bincount((block_id * k + wide[:nby * B, :nbx * B]).ravel(), minlength=nby * nbx * k)
                same = (hist.reshape(nby * nbx, k).astype(np.float64) ** 2).sum(1).reshape(nby, nbx)
                # each pixel's changes with its left and upper neighbours: 2 B^2 pairs per block (inner blocks)
                expected = (1.0 - same / (B * B) ** 2) * (2 * B * B)
                obs = bc
                f["alternation"] = _safe(obs[active].sum(), expected[active].sum())
                f["alternation_smooth"] = _safe(obs[smooth].sum(), expected[smooth].sum())
                ok = active & (expected > 0)
                f["alternation_median"] = float(np.median(obs[ok] / expected[ok])) if ok.any() else 0.0
    for i, name in enumerate(FEATURE_NAMES):
        out[i] = float(f.get(name, 0.0))
    return out


#: Transforms of the raw features before standardizing (``params["transform"]``): the rates span orders of magnitude.
TRANSFORMS = {"none": lambda x: x, "signed_log100": lambda x: np.sign(x) * np.log1p(100.0 * np.abs(x))}


class Router:
    """P(dithered) from :func:`features`: transform (:data:`TRANSFORMS`), standardize, then a stack of dense layers
    (tanh between, a sigmoid at the end). ``params``: the JSON dict that ``trainers/fit_dither_router`` fits."""

    def __init__(self, params: dict):
        if params.get("format") != FORMAT or params.get("kind") != "dither_router":
            raise ValueError(f"not a dither router of format {FORMAT}: {str(params)[:80]}")
        names = tuple(params["features"])
        unknown = [n for n in names if n not in FEATURE_NAMES]
        if unknown:
            raise ValueError(f"the router uses features this gifnets does not compute: {unknown}")
        self.params = params
        self.columns = np.array([FEATURE_NAMES.index(n) for n in names])
        self.mean = np.asarray(params["mean"], np.float64)
        self.scale = np.asarray(params["scale"], np.float64)
        self.layers = [(np.asarray(layer["w"], np.float64), np.asarray(layer["b"], np.float64))
                       for layer in params["layers"]]
        self.threshold = float(params.get("threshold", 0.5))
        if params.get("transform", "none") not in TRANSFORMS:
            raise ValueError(f"unknown feature transform {params.get('transform')!r}; this gifnets knows {sorted(TRANSFORMS)}")
        self.transform = TRANSFORMS[params.get("transform", "none")]
        self.side = int(params.get("side", SIDE))
        if self.mean.shape != (len(names),) or self.scale.shape != (len(names),) or self.layers[0][0].shape[0] != len(names):
            raise ValueError("dither router parameters of inconsistent shapes")

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Logits of feature rows ``[N, len(FEATURE_NAMES)]`` (all features; the router picks its columns)."""
        z = (self.transform(np.asarray(x, np.float64)[:, self.columns]) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                z = np.tanh(z)
        return z[:, 0]

    def probability(self, rgb: np.ndarray) -> float:
        """P(dithered) of one decoded GIF frame (uint8 ``[H, W, 3]``)."""
        z = float(self.logit(features(rgb, self.side)[None])[0])
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))))


def read(path: str) -> Router:
    with open(path, encoding="utf-8") as f:
        return Router(json.load(f))


@functools.lru_cache(maxsize=4)
def load(explicit: str | None = None) -> Router:
    """The installed dither router (``dither_router.json``, checked against the registry), or ``explicit``."""
    from gif_pipeline.weights import registry

    path = registry.find_model("dither_router", explicit=explicit)
    registry.verify(path)
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise registry.WeightsError(f"cannot load the dither router {path} ({type(e).__name__}: {e}); reinstall gifnets "
                                    "or refit it (`trainers/fit_dither_router --preset=shipped`)") from None

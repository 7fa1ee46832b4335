"""Ship an InterpNet run: copy its network (no optimizer state) to gif_pipeline/weights/interp.keras with a model
card and a registry entry, only if the bench shows it beats frame repetition on the held-out clip.

    python trainers/ship_interp.py --run=runs/interp --bench=results/interp

Reads the run's ``interp_net.keras`` or, for an unfinished run, its ``best.weights.h5`` with the layout in its
``config.json``. The card quotes the bench's ``summary.md`` (the held-out real clip and the synthetic clips).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/interp")
    p.add_argument("--bench", default="results/interp")
    p.add_argument("--weights_dir", default=None, help="default: gif_pipeline/weights")
    p.add_argument("--train_command", default="trainers/train_interp --preset=cpu")
    p.add_argument("--note", default="", help="where the weights come from, for the card (e.g. the epoch)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from gif_pipeline.models.interp.config import InterpNetConfig
    from gif_pipeline.models.interp.interp_net import build_interp_net
    from gif_pipeline.weights import registry
    from trainers import common

    with open(os.path.join(args.bench, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    held = [r for r in rows if r["kind"].startswith("real")]
    by = {(r["rate"], r["method"]): float(r["psnr"]) for r in held}
    rates = sorted({r["rate"] for r in held}, key=lambda s: int(s.split("/")[1]))
    wins = {rate: by[(rate, "interpnet")] - by[(rate, "repeat (hold)")] for rate in rates}
    if not all(v > 0 for v in wins.values()):
        print(f"ship_interp: not shipped: InterpNet does not beat frame repetition at every rate ({wins})", file=sys.stderr)
        return 1
    origin, record, _ = common.run_weights(args.run, "interp_net.keras")
    if record is None:
        raise SystemExit(f"{args.run} has no config.json: is it a trainer's --model_dir?")
    model = build_interp_net(InterpNetConfig.from_dict(record["model"]))
    model.load_weights(origin)
    epochs = len(record.get("history", {}).get("loss", [])) or None
    folder = args.weights_dir or registry.weights_dir()
    path = os.path.join(folder, "interp.keras")
    tmp = os.path.join(folder, "interp.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    with open(os.path.join(args.bench, "summary.md")) as f:
        summary = f.read()
    card = f"""# InterpNet (`interp.keras`)

Frame interpolation for animated GIFs (GIF2Video §4.2, a Super SloMo adaptation; issue 27). Load it with
`gif_pipeline.weights.registry.load("interp")`; run it with `gifnets interpolate in.gif -o out.mp4 --factor 4` or
`gif_pipeline.interpolate.interpolate_frames(frames, 4)`.

## Model
- `{InterpNetConfig.from_dict(record["model"])}`: {model.count_params():,} parameters,
  {os.path.getsize(path) / 1e6:.1f} MB (weights only). The authors' width is 16x the parameters (158 MB).
- Flow U-Net on the two GIF frames (F01, F10), Super SloMo's intermediate flows, refinement U-Net (residual flows
  + visibility map), backward warping by bilinear sampling; frames in, frames out (uint8).

## Data and training
- Real clips `bikes.mp4`, `carphone_pristine.mp4` and synthetic motion from `../shared/data/train` photos; kept
  frames quantized to 32-256 colours (Pillow median cut, with/without Floyd-Steinberg) at 1/2, 1/4, 1/8 of the
  frames kept; 128-px crops. The held-out clip `bigbuckbunny.mp4` was never trained on nor used to pick weights.
- Reproduce: `{args.train_command}`; weights from `{origin}` (the best validation epoch on synthetic val-photo
  motion{f", after {epochs} epochs" if epochs else ", run still going when shipped"}). {args.note}
  Lab notebook: docs/experiments/interp.md.

## Results (held-out real clip and synthetic clips; one run on the shared 2-core machine)
{summary.split(chr(10), 1)[1]}
## Limitations
- Trained for a short time on a CPU at a quarter of the authors' width; without CCDNet (issue 26) it warps the
  quantized GIF frames, so the output keeps the GIF's colours and dithering.
- The last frame of a clip is held (no wrap-around to the first); scene cuts are not detected at inference.
"""
    with open(os.path.join(folder, "interp.md"), "w") as f:
        f.write(card)
    entry = registry.Entry("interp/interp", "interp", "interp", "interp.keras", card="interp.md",
                           train=args.train_command,
                           evaluate="python benchmarks/interp_bench.py --model gif_pipeline/weights/interp.keras "
                                    "--out results/interp")
    registry.record(entry, folder)
    print(f"shipped {path} ({os.path.getsize(path) / 1e6:.1f} MB) from {origin}; wins over repetition (dB): {wins}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

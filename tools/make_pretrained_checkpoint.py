"""Regenerate the course's pretrained checkpoint, ``src/freezelab/checkpoints/glyphnet-chars62.pt``.

    .venv/bin/python tools/make_pretrained_checkpoint.py [--check]

Trains GlyphNet on the source task (62 printed characters drawn from matplotlib's fonts, see
``freezelab.glyphs``) with the recipe in ``freezelab.pretrained.RECIPE``: single-threaded, with
deterministic algorithms and seeded data, so a rerun with the same torch on the same kind of CPU
writes the same tensors. About three minutes on one core. ``--check`` trains and compares with
the shipped file instead of overwriting it.
"""

from __future__ import annotations

import argparse
import time

import torch

from freezelab.pretrained import CHECKPOINT, save_checkpoint, train_source_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped checkpoint, write nothing")
    arguments = parser.parse_args()
    started = time.perf_counter()
    model, meta = train_source_model()
    print(f"trained in {time.perf_counter() - started:.0f} s; {meta['num_params']:,} parameters")
    if arguments.check:
        shipped = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["state_dict"]
        differences = [key for key, tensor in model.state_dict().items() if not torch.equal(tensor, shipped[key])]
        print("identical to the shipped checkpoint" if not differences else f"differs in {differences}")
        raise SystemExit(1 if differences else 0)
    print("wrote", save_checkpoint(model, meta))


if __name__ == "__main__":
    main()

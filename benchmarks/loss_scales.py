"""Print the size of each loss term of eq. 8 (HiSTF appendix A.2) at several noise levels, for choosing their weights.

    python benchmarks/loss_scales.py [--model DIR] [--data corpus] [--batch 32]

The model defaults to the shipped one; the figures quoted in docs/histf.md come from this command on the corpus.
"""
import argparse

import numpy as np
import torch

from motiongen.data.dataset import MotionTextDataset
from motiongen.diffusion.gaussian import GaussianDiffusion, LossWeights
from motiongen.models.condition import MotionCondition
from motiongen.models.pretrained import load_model_dir
from motiongen.pipeline import default_model_dir
from motiongen.text.encoders import load_text_encoder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default="corpus")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    den, cfg, mean, std = load_model_dir(args.model or default_model_dir())
    ds = MotionTextDataset(args.data, "train", max_frames=196)
    items = [ds[i * (len(ds) // args.batch)] for i in range(args.batch)]
    x0 = torch.tensor(np.stack([it["motion"] for it in items]))
    mask = torch.tensor(np.stack([it["mask"] for it in items]))
    cond = MotionCondition(load_text_encoder(cfg["text_encoder"]["name"]).encode([it["text"] for it in items]))
    diffusion = GaussianDiffusion.from_config(cfg.get("diffusion", {}))
    keys = ("simple", "pos", "vel", "foot", "foot_motion", "contact")
    print(f"{'t':>5} " + " ".join(f"{k:>11}" for k in keys) + "   (foot_motion, contact: foot_labels='motion')")
    for t in (10, 100, 500, 900):
        with torch.no_grad():
            out = diffusion.training_losses(den, x0, mask, cond, weights=LossWeights(1, 1, 1, 1),
                                            timesteps=torch.full((len(items),), t), mean=torch.tensor(mean),
                                            std=torch.tensor(std), generator=torch.Generator().manual_seed(0))
            motion = diffusion.training_losses(den, x0, mask, cond,
                                               weights=LossWeights(1, 0, 1, 0, contact=1, foot_labels="motion"),
                                               timesteps=torch.full((len(items),), t), mean=torch.tensor(mean),
                                               std=torch.tensor(std), generator=torch.Generator().manual_seed(0))
        out = {**out, "foot_motion": motion["foot"], "contact": motion["contact"]}
        print(f"{t:>5} " + " ".join(f"{float(out[k]):>11.5f}" for k in keys))


if __name__ == "__main__":
    main()

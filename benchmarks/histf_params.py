"""HiSTF Mamba parameter counts for the paper's ablation configurations, ours beside the paper's.

    python benchmarks/histf_params.py [--text-dim 512]

--text-dim 512 is CLIP ViT-B/32's width (the paper's encoder); 384 is the bundled MiniLM.
"""
from __future__ import annotations

import argparse

from motiongen.models.histf.model import PAPER_PARAMETERS
from motiongen.models.registry import build_denoiser

CONFIGS = {
    "N2-L2": dict(num_temporal_blocks=2), "N3-L2": {}, "N4-L2": dict(num_temporal_blocks=4),
    "N2-L3": dict(num_temporal_blocks=2, num_layers=3), "N3-L3": dict(num_layers=3),
    "N4-L3": dict(num_temporal_blocks=4, num_layers=3),
    "no-part": dict(use_part_branch=False), "no-whole": dict(use_whole_branch=False), "no-dsfm": dict(use_dsfm=False),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--text-dim", type=int, default=512)
    args = ap.parse_args()
    print(f"{'config':<10} {'ours':>8} {'paper':>8} {'diff':>7}   (text width {args.text_dim})")
    for name, kw in CONFIGS.items():
        n = build_denoiser("histf", text_dim=args.text_dim, **kw).num_parameters() / 1e6
        p = PAPER_PARAMETERS[name]
        print(f"{name:<10} {n:>7.2f}M {p:>7.2f}M {n - p:>+7.2f}")


if __name__ == "__main__":
    main()

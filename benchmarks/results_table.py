"""Print a `motiongen evaluate --json` result file as a Markdown table (what the README shows).

    python benchmarks/results_table.py runs/results.json [--aits runs/aits.txt]
"""
from __future__ import annotations

import argparse
import json


def cell(row: dict, key: str, digits: int = 3) -> str:
    if key not in row:
        return "-"
    m, ci = row[key]
    return f"{m:.{digits}f} ± {ci:.{digits}f}" if ci else f"{m:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    args = ap.parse_args()
    res = json.loads(open(args.results).read())
    cols = [("top1", "R-prec. top-1 ↑"), ("top2", "top-2 ↑"), ("top3", "top-3 ↑"), ("fid", "FID ↓"),
            ("mm_dist", "MM-Dist ↓"), ("diversity", "Diversity →"), ("multimodality", "MModality ↑"),
            ("foot_skating", "foot skating ↓")]
    print("| model | " + " | ".join(h for _, h in cols) + " | parameters | sampler |")
    print("|---" * (len(cols) + 3) + "|")
    for name, row in res["rows"].items():
        model = row.get("model", {})
        params = f"{model['parameters'] / 1e6:.2f}M" if model else "-"
        sampler = f"{model.get('sampler')} {model.get('steps')}" if model else "-"
        print(f"| {name} | " + " | ".join(cell(row, k) for k, _ in cols) + f" | {params} | {sampler} |")
    print(f"\n{res['replications']} replications on the {res['split']} split; ± is the 95% confidence interval.")


if __name__ == "__main__":
    main()

"""Print vidclass's top-1 next to the independent reference's on every shared clip (a Markdown table).

    python scripts/compare_reference.py [--window N] [--hop N] [--provider P]

Reads ``$VIDCLASS_ASSETS`` (default ``../shared/assets``): ``clips/clips.csv`` and
``reference/reference.jsonl``; the model is found as ``vidclass predict`` finds it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidclass import Classifier  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--hop", type=int, default=None)
    parser.add_argument("--mode", default="windows", help="default: windows (the README's table); stream, dense")
    parser.add_argument("--provider", default="cpu", help="default: cpu (ONNX Runtime fp32, the fidelity yardstick)")
    args = parser.parse_args()
    assets = Path(os.environ.get("VIDCLASS_ASSETS", ROOT.parent / "shared" / "assets"))
    with (assets / "reference" / "reference.jsonl").open() as f:
        reference = {rec["file"]: rec for rec in map(json.loads, f)}
    with (assets / "clips" / "clips.csv").open() as f:
        rows = list(csv.DictReader(f))
    clf = Classifier(args.model, provider=args.provider, window_frames=args.window, hop_frames=args.hop, mode=args.mode)
    print("| clip | label | vidclass top-1 | score | reference top-1 | score | same |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        result = clf.predict(assets / "clips" / row["file"])
        ref = reference[row["file"]]["top5"][0]
        ours = result.top[0]
        same = "yes" if ours.label == ref["label"] else "no"
        print(
            f"| {row['file']} | {row['label'] or '-'} | {ours.label} | {ours.score:.3f} | "
            f"{ref['label']} | {ref['prob']:.3f} | {same} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

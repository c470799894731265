"""The ``motiongen`` command line. Subcommands read like a sentence: ``motiongen convert IN OUT``,
``motiongen data build --source ... --out ...``, ``motiongen data show DIR ID --out x.mp4``."""
from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_convert(args) -> None:
    from .convert import convert
    for note in convert(args.input, args.output, rig=args.rig, fps=args.fps, to=args.to, units=args.units,
                        up=args.up):
        print(note)


def _cmd_data_build(args) -> None:
    from .data.build import build_corpus
    summary = build_corpus(args.source, args.out, sets=args.sets, limit=args.limit, workers=args.workers)
    print(summary.describe())


def _cmd_data_stats(args) -> None:
    from .data.dataset import dataset_stats
    print(dataset_stats(args.dir))


def _cmd_data_show(args) -> None:
    from .data.dataset import show_item
    print(f"wrote {show_item(args.dir, args.id, args.out)}")


def build_parser() -> argparse.ArgumentParser:
    from .motion.retarget import PRESETS, UNITS
    p = argparse.ArgumentParser(prog="motiongen", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"motiongen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("convert", help="convert between BVH, joints .npy, features .npy and previews (.mp4/.gif)",
                       description="Convert between BVH, joints .npy (T, J, 3), features .npy (T, 263|251) and "
                                   ".mp4/.gif previews; formats are chosen by extension and array shape. "
                                   "BVH input is retargeted to the 22-joint HumanML3D layout.")
    c.add_argument("input", help="a .bvh (or archive.zip::member.bvh) or .npy file")
    c.add_argument("output", help="a .bvh, .npy, .mp4 or .gif file")
    c.add_argument("--rig", choices=sorted(PRESETS), help="joint-name preset of the BVH input (default: detected)")
    c.add_argument("--fps", type=float, default=20.0, help="frame rate to resample BVH input to (default 20)")
    c.add_argument("--units", choices=sorted(UNITS), help="units of the BVH input (default: inferred from its size)")
    c.add_argument("--up", choices=["y", "z"], default="y", help="up axis of the BVH input (default y)")
    c.add_argument("--to", choices=["joints", "features"],
                   help="what a .npy output holds (default: features for joints input, else joints)")
    c.set_defaults(func=_cmd_convert)

    d = sub.add_parser("data", help="build, summarise and look at motion datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    b = dsub.add_parser("build", help="build the corpus from BVH sets into the HumanML3D layout")
    b.add_argument("--source", required=True, help="folder with the BVH sets (e.g. ../shared/data/bvh)")
    b.add_argument("--out", required=True, help="output folder (the standard HumanML3D layout)")
    b.add_argument("--sets", nargs="+", help="only these sets (bandai-namco cmu cmu-iclone xia-style aalto-gait)")
    b.add_argument("--limit", type=int, help="at most this many clips per set (for quick tries)")
    b.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    b.set_defaults(func=_cmd_data_build)
    s = dsub.add_parser("stats", help="summarise a dataset folder")
    s.add_argument("dir")
    s.set_defaults(func=_cmd_data_stats)
    sh = dsub.add_parser("show", help="render one item of a dataset as a stick figure (.mp4 or .gif)")
    sh.add_argument("dir")
    sh.add_argument("id")
    sh.add_argument("--out", required=True, help="x.mp4 or x.gif")
    sh.set_defaults(func=_cmd_data_show)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"motiongen {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

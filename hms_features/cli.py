"""The ``hms-features`` command.

Exit codes: 0 success; 2 bad usage or bad input (a one-line message naming the file, column or
row); 1 an unexpected failure (with its traceback).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .data import HMSDataset, HMSError


class UsageError(Exception):
    """A command-line argument or input the user can fix; exit code 2."""


def _cmd_validate(args) -> int:
    for split in args.splits:
        ds = HMSDataset(args.data_dir, split=split)
        ds.validate(progress=not args.quiet)
        print(ds)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hms-features",
        description="Features and torch-free models for the HMS harmful brain activity EEG data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a dataset folder against the Kaggle HMS layout",
                       description="Check train.csv/test.csv and every parquet file they point at.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--splits", nargs="+", default=["train"], choices=["train", "test"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv=None) -> int:
    """Entry point of ``hms-features``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (HMSError, UsageError, FileNotFoundError, FileExistsError) as err:
        print(f"hms-features {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hms-features {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the catch-all that turns a crash into exit code 1
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())

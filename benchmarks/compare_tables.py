"""Compare two feature tables column by column and list what changed, grouped by family.

Usage::

    python benchmarks/compare_tables.py before.parquet after.parquet [--rtol 0] [--atol 0]

Both tables must hold the same rows (aligned on the index, or on ``label_id`` when that is a
column). For every column present in both, the maximum absolute difference and the maximum
relative difference ``|a - b| / max(|a|, |b|)`` (0 where both are 0) are computed; NaN equals NaN.
Columns within ``atol + rtol * |before|`` everywhere count as equal. The report lists the columns
only in one table, then, per family (the name up to the first ``_``), the number of changed
columns, the largest differences and the changed columns themselves (worst first, ``--show`` per
family). Exit status 0 whether or not columns changed; 2 if the rows differ.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np
import pandas as pd


def load(path: str) -> pd.DataFrame:
    df = pd.read_parquet(path)
    if "label_id" in df.columns:
        df = df.set_index("label_id")
    return df


def compare(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 0.0, atol: float = 0.0):
    """Per-column differences of two tables with the same rows.

    Returns
    -------
    only_a, only_b : list of str
        Columns present in one table only.
    diffs : DataFrame
        One row per common column whose values differ beyond the tolerance: ``family``,
        ``max_abs``, ``max_rel``, ``n_rows`` (rows that differ).
    """
    if len(a) != len(b) or not a.index.equals(b.index):
        if set(a.index) != set(b.index):
            raise ValueError(f"the tables hold different rows ({len(a)} vs {len(b)})")
        b = b.loc[a.index]
    only_a = [c for c in a.columns if c not in b.columns]
    only_b = [c for c in b.columns if c not in a.columns]
    common = [c for c in a.columns if c in b.columns]
    num = [c for c in common if pd.api.types.is_numeric_dtype(a[c])
           and pd.api.types.is_numeric_dtype(b[c])]
    rows = []
    x = a[num].to_numpy(np.float64)
    y = b[num].to_numpy(np.float64)
    both_nan = np.isnan(x) & np.isnan(y)
    with np.errstate(invalid="ignore"):
        d = np.where(both_nan, 0.0, np.abs(x - y))
        d = np.where(np.isnan(d), np.inf, d)  # NaN on one side only
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(d == 0, 0.0, d / np.where(scale > 0, scale, 1.0))
        bad = d > atol + rtol * np.nan_to_num(np.abs(x))
    for j, c in enumerate(num):
        if bad[:, j].any():
            rows.append((c, c.split("_", 1)[0], d[:, j].max(), rel[:, j].max(),
                         int(bad[:, j].sum())))
    for c in common:
        if c not in num and not a[c].equals(b[c]):
            rows.append((c, c.split("_", 1)[0], np.inf, np.inf, int((a[c] != b[c]).sum())))
    diffs = pd.DataFrame(rows, columns=["column", "family", "max_abs", "max_rel", "n_rows"])
    return only_a, only_b, diffs.set_index("column")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default exact)")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default exact)")
    p.add_argument("--show", type=int, default=5, help="changed columns listed per family")
    args = p.parse_args(argv)
    a, b = load(args.before), load(args.after)
    try:
        only_a, only_b, diffs = compare(a, b, args.rtol, args.atol)
    except ValueError as e:
        print(f"compare_tables: {e}", file=sys.stderr)
        return 2
    print(f"{args.before}: {a.shape[0]} rows x {a.shape[1]} columns; "
          f"{args.after}: {b.shape[0]} rows x {b.shape[1]} columns")
    for name, cols in ((args.before, only_a), (args.after, only_b)):
        if cols:
            print(f"only in {name}: {len(cols)} columns, e.g. {cols[:5]}")
    n_common = len([c for c in a.columns if c in b.columns])
    print(f"{n_common - len(diffs)} of {n_common} common columns equal "
          f"(atol={args.atol:g}, rtol={args.rtol:g}); {len(diffs)} differ")
    by_family = defaultdict(list)
    for c, r in diffs.sort_values("max_rel", ascending=False).iterrows():
        by_family[r.family].append((c, r))
    for fam, items in sorted(by_family.items()):
        mx_abs = max(r.max_abs for _, r in items)
        mx_rel = max(r.max_rel for _, r in items)
        print(f"\n[{fam}] {len(items)} columns differ; max abs {mx_abs:.3g}, max rel {mx_rel:.3g}")
        for c, r in items[: args.show]:
            print(f"  {c}: max abs {r.max_abs:.3g}, max rel {r.max_rel:.3g}, rows {r.n_rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

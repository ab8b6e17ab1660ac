"""The self-contained HTML report: tables, CSS and every picture embedded as a ``data:`` URI."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import CLASSES, kl_report
from .figures import (
    plot_confusion,
    plot_eeg_window,
    plot_importances,
    plot_kl_by_group,
    plot_reliability,
)
from .numbers import _fractions, _prob_matrix, confusion_counts

__all__ = ["write_report"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; color: #222; padding: 0 1em; }
h1 { border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h2 { margin-top: 1.8em; color: #0072B2; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f0f4f8; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
p.note { color: #555; font-size: 0.9em; }
"""


def _table(df: pd.DataFrame, digits: int = 4, index: bool = False) -> str:
    return df.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0,
                      escape=True, index=index)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _report_row(name: str, r: dict) -> dict:
    row = {"rows": name, "KL": r["kl"], "KL ≥10 votes": r.get("kl_many_votes", np.nan),
           "KL <10 votes": r.get("kl_few_votes", np.nan),
           "n ≥10 votes": r.get("n_many_votes", 0), "n <10 votes": r.get("n_few_votes", 0)}
    row.update({f"{c}": r["per_class"][c] for c in CLASSES})
    return row


def write_report(out_dir, *, oof_proba, votes, fold_reports, feature_names=None,
                 importances=None, example_windows=None,
                 title: str = "hms_features report") -> Path:
    """Write every picture and one self-contained ``report.html`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if needed); existing files of the same names are replaced.
    oof_proba : array-like, shape (n, 6), or None
        Out-of-fold predicted probabilities in :data:`CLASSES` order.
    votes : array-like, shape (n, 6), or None
        Expert vote counts of the same rows (counts, not fractions: the report splits rows by
        the number of votes). With ``oof_proba`` gives the overall KL table, the class-prior
        table, ``reliability.png`` and ``confusion.png``.
    fold_reports : sequence of dict, or None
        One :func:`~hms_features.metrics.kl_report` per fold: the per-fold table and
        ``kl_by_group.png``.
    feature_names, importances : sequence of str and array-like, optional
        Both needed for ``importances.png`` and the top-30 table.
    example_windows : sequence of dict, optional
        Keyword arguments of :func:`plot_eeg_window` (``eeg`` required; ``spectrogram``,
        ``votes``, ``proba``, ``title``, ``fs`` optional), one ``eeg_window_{i}.png`` each.
    title : str
        Page title.

    Returns
    -------
    Path
        The path of ``report.html``. Sections whose inputs are None or empty are left out.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>"]

    if oof_proba is not None and votes is not None:
        v = _prob_matrix(votes, "votes")
        p = _prob_matrix(oof_proba, "oof_proba")
        if len(v) != len(p):
            raise ValueError(f"write_report: votes has {len(v)} rows but oof_proba {len(p)}")
        overall = kl_report(v, p)
        parts.append("<h2>Out-of-fold score</h2>")
        parts.append(f"<p>Kaggle KL divergence over {len(p)} rows: "
                     f"<b>{overall['kl']:.4f}</b> nats (lower is better). The class columns are "
                     "each class's contribution; they add up to KL.</p>")
        parts.append(_table(pd.DataFrame([_report_row("out-of-fold", overall)])))
        prior = pd.DataFrame({"mean vote fraction": _fractions(v, "votes").mean(axis=0),
                              "mean predicted": p.mean(axis=0),
                              "consensus rows": confusion_counts(v, p).sum(axis=1),
                              "predicted rows (argmax)": confusion_counts(v, p).sum(axis=0)},
                             index=list(CLASSES))
        parts.append("<h3>Class balance</h3>" + _table(prior, index=True))
        rel = plot_reliability(v, p, out / "reliability.png")
        parts.append("<h2>Reliability</h2>" + _img(rel, "reliability diagram per class"))
        conf = plot_confusion(v, p, out / "confusion.png")
        parts.append("<h2>Confusion of the argmax</h2>" + _img(conf, "confusion matrix"))

    reports = list(fold_reports) if fold_reports is not None else []
    if reports:
        table = pd.DataFrame([_report_row(f"fold {k}", r) for k, r in enumerate(reports)])
        summary = table.drop(columns=["rows"]).mean(numeric_only=True).to_dict()
        counts = ["n ≥10 votes", "n <10 votes"]
        summary.update({c: int(table[c].sum()) for c in counts})  # totals, not means
        table = pd.concat([table, pd.DataFrame([{"rows": "mean of folds (n: total)",
                                                 **summary}])], ignore_index=True)
        table[counts] = table[counts].astype(np.int64)
        kl_png = plot_kl_by_group(reports, out / "kl_by_group.png")
        parts.append("<h2>KL per fold, class and vote count</h2>" + _table(table)
                     + _img(kl_png, "KL by class and vote-count group per fold"))

    if feature_names is not None and importances is not None and len(feature_names):
        imp_png = plot_importances(feature_names, importances, out / "importances.png")
        imp = pd.DataFrame({"feature": [str(n) for n in feature_names],
                            "importance": np.asarray(importances, dtype=float)})
        imp = imp.sort_values("importance", ascending=False, kind="stable").head(30)
        parts.append("<h2>Feature importances</h2>" + _img(imp_png, "feature importances")
                     + _table(imp.reset_index(drop=True), digits=2))

    windows = list(example_windows) if example_windows is not None else []
    if windows:
        parts.append("<h2>Example windows</h2><p class='note'>Double-banana montage with the "
                     "labelled central 10 s shaded, the Kaggle spectrogram of the same moment "
                     "and the predicted vs voted distribution.</p>")
        for i, kw in enumerate(windows):
            kw = dict(kw)
            if "eeg" not in kw:
                raise ValueError(f"write_report: example_windows[{i}] has no 'eeg' entry")
            png = plot_eeg_window(path=out / f"eeg_window_{i}.png", **kw)
            parts.append(_img(png, kw.get("title") or f"example window {i}"))

    from .. import __version__

    parts.append(f"<p class='note'>Written by hms_features {html.escape(__version__)}.</p>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

"""The self-contained HTML report: tables, CSS and every picture embedded as a ``data:`` URI."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..metrics import CLASSES, kl_report
from .figures import (
    IMPORTANCE_LABELS,
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
details { margin: .8em 0; }
summary { cursor: pointer; color: #0072B2; font-weight: bold; }
td.text, th.text, table.text td, table.text th { text-align: left; }
"""


def _table(df: pd.DataFrame, digits: int = 4, index: bool = False, text: bool = False) -> str:
    """``df`` as an HTML table; ``text``: cells left-aligned (tables of words)."""
    return df.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0,
                      escape=True, index=index, classes="text" if text else None)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_BASELINE_KEYS = ("KL", "KL ≥10 votes", "KL <10 votes")


def _baseline_row(name: str, value, votes) -> dict:
    """One row of the baseline table from probabilities (n, 6) or three KL numbers."""
    if isinstance(value, dict):  # a row of cli.kl_table: "KL", "KL >=10 votes", "KL <10 votes"
        vals = [value.get(k, value.get(k.replace("≥", ">="), np.nan)) for k in _BASELINE_KEYS]
        return {"rows": name, **dict(zip(_BASELINE_KEYS, map(float, vals)))}
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1 and arr.size == 3:
        return {"rows": name, **dict(zip(_BASELINE_KEYS, arr.tolist()))}
    if arr.shape != (len(votes), len(CLASSES)):
        raise ValueError(f"write_report: baselines[{name!r}] must be three KL numbers (all, "
                         f">=10 votes, <10 votes) or probabilities of shape ({len(votes)}, 6), "
                         f"got shape {arr.shape}")
    r = kl_report(votes, arr)
    return {"rows": name, "KL": r["kl"], "KL ≥10 votes": r.get("kl_many_votes", np.nan),
            "KL <10 votes": r.get("kl_few_votes", np.nan)}


def _settings_table(settings: dict) -> str:

    items = dict(settings)
    items.setdefault("hms_features version", __version__)
    rows = []
    for key, value in items.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append(f"<tr><th class='text'>{html.escape(str(key))}</th>"
                    f"<td class='text'><code>{html.escape(text)}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _glossary_summary(glossary: pd.DataFrame) -> pd.DataFrame:
    """One row per measure pattern: its bands, unit, definition and number of columns."""
    known = glossary[glossary["pattern"] != "unknown"]
    rows = []
    for pattern, g in known.groupby("pattern", sort=False):
        bands = list(dict.fromkeys(g["band"]))
        band = (", ".join(bands) if len(bands) <= 8
                else f"{len(bands)} bins/bands, {bands[0]} … {bands[-1]}")
        rows.append({"pattern": pattern, "columns": len(g), "band": band,
                     "unit": g["unit"].iloc[0], "definition": g["definition"].iloc[0]})
    return pd.DataFrame(rows, columns=["pattern", "columns", "band", "unit", "definition"])


def _report_row(name: str, r: dict) -> dict:
    row = {"rows": name, "KL": r["kl"], "KL ≥10 votes": r.get("kl_many_votes", np.nan),
           "KL <10 votes": r.get("kl_few_votes", np.nan),
           "n ≥10 votes": r.get("n_many_votes", 0), "n <10 votes": r.get("n_few_votes", 0)}
    row.update({f"{c}": r["per_class"][c] for c in CLASSES})
    return row


def write_report(out_dir, *, oof_proba, votes, fold_reports, feature_names=None,
                 importances=None, example_windows=None,
                 title: str = "hms_features report", baselines: dict | None = None,
                 settings: dict | None = None, importance_type: str = "gain") -> Path:
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
        Both needed for ``importances.png`` and the top-30 table. ``feature_names`` alone
        gives the feature glossary (:func:`hms_features.features.glossary.describe_features`):
        ``feature_glossary.csv`` next to the page (every column decoded) and a collapsible
        summary on it (one row per measure).
    example_windows : sequence of dict, optional
        Keyword arguments of :func:`plot_eeg_window` (``eeg`` required; ``spectrogram``,
        ``votes``, ``proba``, ``title``, ``fs`` optional), one ``eeg_window_{i}.png`` each.
    title : str
        Page title.
    baselines : dict, optional
        Reference predictions shown under the out-of-fold score, name -> either probabilities
        of shape (n, 6) (scored here against ``votes``) or three KL numbers (all rows, rows
        with >= 10 votes, fewer), e.g. ``{"uniform": ..., "class prior (in-sample)": ...,
        "oracle (true distributions)": [kl, kl_many, kl_few]}`` - the rows of the console's KL
        table (also accepted as its dicts with keys ``"KL"``, ``"KL >=10 votes"``,
        ``"KL <10 votes"``).
    settings : dict, optional
        What produced the report (parameters, seed, feature set, data folder, ...), shown as
        a two-column table; values that are not strings are shown as JSON. The library version
        is added when absent.
    importance_type : str
        What ``importances`` measures (``"gain"`` or ``"split"``, the classifier's
        ``importance_type``), for the chart's axis and the table's header.

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
        if baselines:
            rows = [{"rows": "model (out-of-fold)", "KL": overall["kl"],
                     "KL ≥10 votes": overall.get("kl_many_votes", np.nan),
                     "KL <10 votes": overall.get("kl_few_votes", np.nan)}]
            rows += [_baseline_row(str(k), b, v) for k, b in baselines.items()]
            parts.append("<h3>Against baselines</h3><p class='note'>KL (nats) of the model and "
                         "of reference predictions on the same rows: uniform (1/6 each), the "
                         "class prior (mean vote fraction of these rows, in-sample) and, for "
                         "synthetic data, the generator's true distributions (the floor no "
                         "model can beat).</p>" + _table(pd.DataFrame(rows)))
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

    glossary = None
    if feature_names is not None and len(feature_names):
        from ..features.glossary import describe_features

        glossary = describe_features([str(n) for n in feature_names])
        glossary.to_csv(out / "feature_glossary.csv", index=False)
    if feature_names is not None and importances is not None and len(feature_names):
        imp_png = plot_importances(feature_names, importances, out / "importances.png",
                                   importance_type=importance_type)
        header = f"importance ({importance_type})"
        imp = pd.DataFrame({"feature": [str(n) for n in feature_names],
                            header: np.asarray(importances, dtype=float)})
        imp = pd.concat([imp, glossary[["band", "group", "span", "unit"]]], axis=1)
        imp = imp.sort_values(header, ascending=False, kind="stable").head(30)
        note = {"gain": "LightGBM split gain, the second-order estimate of how much the "
                        "feature's splits reduce the soft-label cross-entropy training loss, "
                        "summed over the trees of all six classes (up to the best iteration)",
                "split": "the number of splits on the feature, summed over the trees of all "
                         "six classes (up to the best iteration)"}.get(
            importance_type, IMPORTANCE_LABELS.get(importance_type, importance_type))
        parts.append("<h2>Feature importances</h2>"
                     f"<p class='note'>Importance: {html.escape(note)}. Band, group, span and "
                     "unit come from the feature glossary below.</p>"
                     + _img(imp_png, "feature importances")
                     + _table(imp.reset_index(drop=True), digits=2, text=True))
    if glossary is not None:
        summary = _glossary_summary(glossary)
        parts.append(
            "<h2>Feature glossary</h2><p class='note'>Every feature column decoded (family, "
            "measure, band, group, span, unit, definition): <a href='feature_glossary.csv'>"
            f"feature_glossary.csv</a>, written next to this page ({len(glossary)} columns). "
            "Names read <code>{family}_{measure}_{band}_{group}_{span}</code>; groups are "
            "double-banana chains (LL, LP, RP, RL, C), hemispheres (L, R) or all 18 "
            "derivations, spans the whole 50 s window or its labelled central 10 s.</p>"
            f"<details><summary>{len(summary)} measures</summary>"
            + _table(summary, text=True) + "</details>")

    windows = list(example_windows) if example_windows is not None else []
    if windows:
        parts.append("<h2>Example windows</h2><p class='note'>Left: the 50 s EEG window in the "
                     "double-banana montage, labelled central 10 s shaded; the heading says how "
                     "the traces were filtered (by default as the features see them) and their "
                     "polarity (negative up, the clinical convention). Right: the 10 min Kaggle "
                     "spectrogram around the same moment (log10 power in the file's units), "
                     "with the EEG window dashed and the labelled 10 s boxed, and the "
                     "predicted vs voted class distribution.</p>")
        for i, kw in enumerate(windows):
            kw = dict(kw)
            if "eeg" not in kw:
                raise ValueError(f"write_report: example_windows[{i}] has no 'eeg' entry")
            png = plot_eeg_window(path=out / f"eeg_window_{i}.png", **kw)
            parts.append(_img(png, kw.get("title") or f"example window {i}"))


    if settings is not None:
        parts.append("<h2>Settings</h2><p class='note'>What produced this report.</p>"
                     + _settings_table(settings))
    parts.append(f"<p class='note'>Written by hms_features {html.escape(__version__)}.</p>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

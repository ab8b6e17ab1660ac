"""Feature glossary: every feature column name decoded into family, measure, band, group, span
and unit.

Names follow ``{family}_{measure}_{band?}_{group}_{span}`` (see
:mod:`hms_features.features.base`); this module reads them back. The bands, groups and windows
are taken from the family modules' own constants (``spectral.BANDS``, ``spatial.BANDS``,
``evolution.REL_BANDS``, ``periodicity.ENVELOPE_BAND``, ``spectrogram.SPEC_BANDS``,
``signal.CHAINS``, ...), so a changed band edge shows up here by itself; the meaning and unit of
each measure are written out below, once, from the families' docstrings.

>>> row = describe_features(["spectral_relpower_alpha_LL_50s"]).iloc[0]
>>> row["family"], row["measure"], row["band"], row["span"], row["unit"]
('spectral', 'relpower', 'alpha (8–13 Hz)', 'whole 50 s window', 'fraction')
"""

from __future__ import annotations

import pandas as pd

from ..signal import CHAINS
from . import evolution, periodicity, spatial, spectral, spectrogram
from .registry import CENTRAL_S
from .sequence import BANDS as SEQ_BANDS

__all__ = ["GLOSSARY_COLUMNS", "describe_features", "MEASURES"]

#: Columns of :func:`describe_features`.
GLOSSARY_COLUMNS = ("feature", "family", "measure", "band", "group", "span", "unit",
                    "definition", "pattern")

_UNKNOWN = "unknown"

#: ``(family, measure) -> (unit, definition)``; the unit of every value the measure takes.
MEASURES: dict[tuple[str, str], tuple[str, str]] = {
    ("quality", "nanfraction"): ("fraction", "fraction of scalp samples that were NaN before "
                                 "repair"),
    ("quality", "badchannels"): ("channels", "scalp channels zeroed as all-NaN or flat"),
    ("quality", "clippedfraction"): ("fraction", "fraction of scalp samples clipped by "
                                     "preprocessing"),
    # spectral (Welch PSD: 2 s Hann segments, 50 % overlap)
    ("spectral", "abspower"): ("log10 µV²", "absolute band power (integral of the Welch PSD)"),
    ("spectral", "relpower"): ("fraction", "band power over the {total} power"),
    ("spectral", "ratio"): ("log10 ratio", "log10 of a band-power ratio"),
    ("spectral", "entropy"): ("normalised, 0-1", "spectral entropy of the {total} PSD"),
    ("spectral", "sef50"): ("Hz", "spectral edge frequency below which 50 % of the {total} "
                            "power lies"),
    ("spectral", "sef90"): ("Hz", "spectral edge frequency below which 90 % of the {total} "
                            "power lies"),
    ("spectral", "peakfreq"): ("Hz", "frequency of the largest PSD bin in {total}"),
    ("spectral", "slope"): ("log10(µV²/Hz) per log10(Hz)",
                            "aperiodic (1/f) slope: least-squares slope of log10 PSD against "
                            "log10 f over {fit}"),
    # temporal
    ("temporal", "logvar"): ("log10 µV²", "log10 variance (Hjorth activity)"),
    ("temporal", "linelength"): ("µV/s", "line length: mean |first difference| times fs"),
    ("temporal", "skewness"): ("dimensionless", "skewness"),
    ("temporal", "kurtosis"): ("dimensionless", "excess (Fisher) kurtosis"),
    ("temporal", "mobility"): ("1/s", "Hjorth mobility (about 2πf for a sine of f Hz)"),
    ("temporal", "complexity"): ("dimensionless", "Hjorth complexity"),
    ("temporal", "zerocross"): ("1/s", "zero crossings per second"),
    ("temporal", "maxabs"): ("µV", "largest absolute amplitude"),
    ("temporal", "spikecount"): ("count", "sharp transients above 5 robust SD in the span"),
    ("temporal", "spikerate"): ("1/min", "sharp transients per minute"),
    # entropy
    ("entropy", "perm"): ("normalised, 0-1", "permutation entropy (order 3, delay 1)"),
    ("entropy", "spectral"): ("normalised, 0-1", "spectral entropy of the Welch PSD over "
                              "0 to fs/2"),
    ("entropy", "svd"): ("normalised, 0-1", "SVD entropy (order 3)"),
    ("entropy", "sample"): ("nats", "sample entropy (m = 2, r = 0.2 SD) of the 50 Hz signal"),
    ("entropy", "higuchi"): ("dimensionless", "Higuchi fractal dimension (kmax 10)"),
    ("entropy", "katz"): ("dimensionless", "Katz fractal dimension"),
    ("entropy", "petrosian"): ("dimensionless", "Petrosian fractal dimension"),
    ("entropy", "dfa"): ("dimensionless", "detrended fluctuation analysis exponent of the "
                         "50 Hz signal"),
    # periodicity
    ("periodicity", "acfpeak"): ("correlation, -1 to 1",
                                 "height of the periodicity peak of the envelope "
                                 "autocorrelation (lags {lags})"),
    ("periodicity", "acfperiod"): ("s", "repetition period: lag of the envelope "
                                   "autocorrelation peak (lags {lags})"),
    ("periodicity", "acfprom"): ("correlation", "prominence of the envelope autocorrelation "
                                 "peak above the deepest trough before it"),
    ("periodicity", "deltaprom"): ("log10 units (decades)", "prominence of the delta peak above "
                                   "the fitted 1/f background"),
    ("periodicity", "deltafreq"): ("Hz", "frequency of the delta peak"),
    ("periodicity", "deltaconc"): ("fraction", "fraction of the delta-band power within one "
                                   "bin of the delta peak"),
    # spatial
    ("spatial", "asym"): ("index, -1 to 1", "band-power asymmetry (L - R) / (L + R); positive: "
                          "left stronger"),
    ("spatial", "absasym"): ("index, 0 to 1", "absolute band-power asymmetry |L - R| / (L + R)"),
    ("spatial", "deltacoh"): ("coherence, 0 to 1", "delta-band coherence of homologous "
                              "derivations"),
    ("spatial", "deltacorr"): ("correlation, -1 to 1", "delta-band zero-lag correlation of "
                               "homologous derivations"),
    ("spatial", "corr"): ("correlation, -1 to 1", "broadband Pearson correlation of homologous "
                          "derivations"),
    ("spatial", "sync"): ("0 to 1", "mean absolute correlation between derivations"),
    ("spatial", "synceig"): ("fraction, 1/18 to 1", "largest eigenvalue of the correlation "
                             "matrix over 18"),
    ("spatial", "deltasync"): ("0 to 1", "mean absolute delta-band correlation between "
                               "derivations"),
    ("spatial", "apgrad"): ("log10 ratio", "anterior-posterior gradient: log10 of frontopolar "
                            "over occipital band power"),
    # evolution: per 10 s sub-window, then slope or range over the five
    ("evolution", "logpower"): ("log10 µV²", "log10 total power over {evo_total}"),
    ("evolution", "domfreq"): ("Hz", "dominant frequency (PSD maximum in {evo_dom})"),
    ("evolution", "rel"): ("fraction", "band power over the {evo_total} power"),
    ("evolution", "loglinelength"): ("log10 µV/s", "log10 line length"),
    # spectrogram (Kaggle file)
    ("spectrogram", "mean"): ("ln(1 + power), file units (µV²-like)",
                              "mean over the time window of the log spectrogram power"),
    ("spectrogram", "min"): ("ln(1 + power), file units (µV²-like)",
                             "minimum over the time window of the log spectrogram power"),
    ("spectrogram", "nanfrac"): ("fraction", "fraction of missing (NaN) spectrogram cells"),
    # ekg
    ("ekg", "hr"): ("bpm", "heart rate, 60 / median RR (0 when invalid)"),
    ("ekg", "sdnn"): ("ms", "standard deviation of RR intervals (0 when invalid)"),
    ("ekg", "rmssd"): ("ms", "root mean square of successive RR differences (0 when invalid)"),
    ("ekg", "nbeats"): ("1/min", "detected R peaks per minute"),
    ("ekg", "rrregular"): ("fraction", "fraction of RR intervals within 20 % of the median"),
    ("ekg", "valid"): ("0 or 1", "1 when the EKG gives a plausible, regular heart rate"),
    ("ekg", "leakcorr"): ("correlation, 0 to 1", "absolute correlation of a derivation with the "
                          "EKG (QRS leakage)"),
    ("ekg", "leakratio"): ("ratio", "mean |EEG| within ±50 ms of R peaks over mean |EEG| "
                           "(QRS leakage; 1: none)"),
    # seq (opt-in)
    ("seq", "logrelpower"): ("ln fraction", "ln of band power over total power"),
    ("seq", "logpower"): ("ln µV²", "ln total power"),
    ("seq", "loglinelength"): ("ln µV/s", "ln line length"),
}


def _hz(lo, hi) -> str:
    return f"{lo:g}–{hi:g} Hz"


_PLACEHOLDERS = {
    "total": _hz(*spectral.TOTAL_RANGE), "fit": _hz(*spectral.FIT_RANGE),
    "lags": f"{periodicity.LAG_RANGE_S[0]:g}–{periodicity.LAG_RANGE_S[1]:g} s",
    "evo_total": _hz(*evolution.TOTAL_BAND), "evo_dom": _hz(*evolution.DOMINANT_BAND),
}

_CHAIN_TEXT = {c: "-".join(e) for c, e in CHAINS.items()}
_EEG_GROUPS = {
    **{c: f"{c} chain ({_CHAIN_TEXT[c]}), mean over its {len(CHAINS[c]) - 1} derivations"
       for c in CHAINS},
    "L": "left hemisphere (LL + LP), mean over 8 derivations",
    "R": "right hemisphere (RP + RL), mean over 8 derivations",
    "all": "all 18 derivations",
}
_SPATIAL_GROUPS = {
    "LLRL": "homologous LL / RL derivations",
    "LPRP": "homologous LP / RP derivations",
    "LR": "all 8 homologous left / right derivation pairs",
    "maxpair": "the homologous pair with the largest |asymmetry|",
    "L": "left hemisphere", "R": "right hemisphere", "all": "all 18 derivations",
}
_SPEC_GROUPS = {c: f"{c} chain of the Kaggle spectrogram" for c in spectrogram.SPEC_CHAINS}


def _bands(bands: dict) -> dict[str, str]:
    return {name: f"{name} ({_hz(lo, hi)})" for name, (lo, hi) in bands.items()}


def _spans(family: str) -> dict[str, str]:
    if family == "spectrogram":
        out = {}
        for name, seconds in spectrogram.SPEC_WINDOWS.items():
            out[name] = ("whole 10 min spectrogram window" if seconds is None
                         else f"central {seconds:g} s of the spectrogram")
        return out
    return {"50s": "whole 50 s window", "10s": f"central {CENTRAL_S:g} s (the labelled part)"}


def _decode(name: str) -> dict:
    """One glossary row; fields that cannot be decoded are ``"unknown"``."""
    row = dict.fromkeys(GLOSSARY_COLUMNS, _UNKNOWN)
    row["feature"] = name
    parts = name.split("_")
    family = parts[0]
    row["family"] = family
    if family == "seq":
        return _decode_seq(row, parts)
    if len(parts) < 3:
        return row
    span = _spans(family).get(parts[-1])
    if span is not None:
        row["span"] = span
    body = parts[1:-1]
    groups = {"spatial": _SPATIAL_GROUPS, "spectrogram": {**_SPEC_GROUPS, "all": "all chains"},
              "ekg": {"all": "EKG channel", "max": "maximum over the 18 derivations",
                      "mean": "mean over the 18 derivations"},
              "quality": {}}.get(family, {**_EEG_GROUPS,
                                          "max": "maximum over the 18 derivations"})
    if family == "quality":
        row["group"] = "19 scalp channels"
    elif body and body[-1] in groups:
        row["group"] = groups[body[-1]]
        body = body[:-1]
    else:
        return row
    if not body:
        return row
    measure, rest = body[0], body[1:]
    band = None
    if family == "spectral":
        if measure in ("abspower", "relpower") and len(rest) == 1:
            band = _bands(spectral.BANDS).get(rest[0])
        elif measure == "ratio" and len(rest) == 1:
            ratios = {"thetaalpha": "theta / alpha", "deltaalpha": "delta1+delta2 / alpha",
                      "slowfast": "delta+theta / alpha+beta"}
            band = ratios.get(rest[0])
        elif not rest:
            band = _hz(*spectral.FIT_RANGE) if measure == "slope" else _hz(
                *spectral.TOTAL_RANGE)
    elif family == "spatial":
        if measure in ("asym", "absasym", "apgrad") and len(rest) == 1:
            band = _bands(spatial.BANDS).get(rest[0])
        elif not rest:
            band = (f"delta ({_hz(*spatial.BANDS['delta'])})" if measure.startswith("delta")
                    else "broadband")
    elif family == "periodicity" and not rest:
        band = (f"envelope of {_hz(*periodicity.ENVELOPE_BAND)}" if measure.startswith("acf")
                else f"delta ({_hz(*periodicity.DELTA_BAND)})")
    elif family == "evolution" and len(rest) == 1 and rest[0] in ("slope", "range"):
        stat = rest[0]
        if measure.startswith("rel") and measure[3:] in evolution.REL_BANDS:
            band = _bands(evolution.REL_BANDS)[measure[3:]]
            measure = "rel"
        else:
            band = {"logpower": _hz(*evolution.TOTAL_BAND),
                    "domfreq": _hz(*evolution.DOMINANT_BAND),
                    "loglinelength": "broadband"}.get(measure)
        if (family, measure) in MEASURES:
            unit, definition = MEASURES[family, measure]
            row["unit"] = unit + " per s" if stat == "slope" else unit
            n = evolution.N_SUBWINDOWS
            row["definition"] = (f"{'least-squares slope' if stat == 'slope' else 'range'} over "
                                 f"{n} consecutive sub-windows of the "
                                 + definition.format(**_PLACEHOLDERS))
            row["measure"] = f"{measure}_{stat}"
            if band is not None:
                row["band"] = band
        return _pattern(row, parts)
    elif family == "spectrogram" and measure in ("mean", "min") and len(rest) == 1:
        band = _bands(spectrogram.SPEC_BANDS).get(rest[0])
        if band is None:
            try:
                band = f"bin at {float(rest[0]):g} Hz"
            except ValueError:
                band = None
    elif family in ("temporal", "entropy", "ekg", "quality", "spectrogram") and not rest:
        band = {"temporal": "broadband", "entropy": "broadband", "ekg": "EKG",
                "quality": "raw EEG"}.get(family, "all bins")
    if band is None or (family, measure) not in MEASURES:
        return row
    unit, definition = MEASURES[family, measure]
    row.update(measure=measure, band=band, unit=unit,
               definition=definition.format(**_PLACEHOLDERS))
    return _pattern(row, parts)


def _pattern(row: dict, parts: list[str]) -> dict:
    """The name with its band (when it is one of many) and group and span as placeholders."""
    if any(v == _UNKNOWN for k, v in row.items() if k != "pattern"):
        return row
    fam = parts[0]
    measure = row["measure"]
    if fam == "evolution":
        m, stat = measure.rsplit("_", 1)
        head = f"evolution_{'rel{band}' if m == 'rel' else m}_{stat}"
    elif fam == "spectrogram" and len(parts) == 5:
        head = f"spectrogram_{measure}_{{bin|band}}"
    elif fam in ("spectral", "spatial") and len(parts) == 5:
        head = f"{fam}_{measure}_{{band}}"
    else:
        head = f"{fam}_{measure}"
    row["pattern"] = head + ("_{span}" if fam == "quality" else "_{group}_{span}")
    return row


def _decode_seq(row: dict, parts: list[str]) -> dict:
    # seq_{measure}[_{band}]_{chain}_{step}s_t{NN}
    if len(parts) < 5 or not parts[-1].startswith("t") or not parts[-1][1:].isdigit():
        return row
    try:
        step_s = float(parts[-2].rstrip("s"))
    except ValueError:
        return row
    k = int(parts[-1][1:])
    row["span"] = f"sub-window {k} ({k * step_s:g}–{(k + 1) * step_s:g} s)"
    chain = parts[-3]
    if chain not in CHAINS:
        return row
    row["group"] = _EEG_GROUPS[chain]
    body = parts[1:-3]
    measure = body[0]
    bands = {b: f"{b} ({_hz(lo, hi)})" for b, lo, hi in SEQ_BANDS}
    if measure == "logrelpower" and len(body) == 2:
        band = bands.get(body[1])
    elif measure == "logpower" and body[1:] == ["total"]:
        band = "all bands" if len(SEQ_BANDS) else None
    elif measure == "loglinelength" and len(body) == 1:
        band = "broadband"
    else:
        band = None
    if band is None or ("seq", measure) not in MEASURES:
        return row
    unit, definition = MEASURES["seq", measure]
    row.update(measure=measure, band=band, unit=unit, definition=definition,
               pattern=f"seq_{measure}{'_{band}' if measure == 'logrelpower' else ''}"
                       f"{'_total' if measure == 'logpower' else ''}_{{chain}}_{{step}}s_t{{k}}")
    return row


def describe_features(names, *, strict: bool = False) -> pd.DataFrame:
    """Decode feature column names into a glossary table.

    Parameters
    ----------
    names : iterable of str
        Feature names, e.g. :func:`hms_features.features.registry.feature_names`.
    strict : bool
        Raise on a name that does not decode completely (instead of ``"unknown"`` fields).

    Returns
    -------
    DataFrame
        One row per name, in the given order, columns :data:`GLOSSARY_COLUMNS`:

        - ``feature``: the name;
        - ``family``: the registered family (``spectral``, ``temporal``, ...);
        - ``measure``: the measure's code in the name (``abspower``, ``sef90``,
          ``logpower_slope``, ...);
        - ``band``: the frequency band or bin it is taken in, with its edges in Hz
          (``"alpha (8–13 Hz)"``), ``"broadband"`` for measures of the whole preprocessed
          signal;
        - ``group``: the derivations, chain, hemisphere or homologous pairs it is averaged over;
        - ``span``: the stretch of the window it is computed on;
        - ``unit``: the unit of the value (``"log10 µV²"``, ``"Hz"``, ``"fraction"``, ...);
        - ``definition``: what the measure is;
        - ``pattern``: the name with band, group and span as ``{placeholders}``, shared by every
          column of the same measure.

        Fields that could not be decoded are ``"unknown"``.

    Raises
    ------
    ValueError
        With ``strict=True``, naming the first name that does not decode.
    """
    rows = []
    for name in names:
        row = _decode(str(name))
        if strict and _UNKNOWN in row.values():
            bad = [k for k, v in row.items() if v == _UNKNOWN]
            raise ValueError(f"describe_features: cannot decode {name!r} (fields {bad})")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(GLOSSARY_COLUMNS))

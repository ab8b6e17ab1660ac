"""Opt-in ``seq`` family: the LSTM's input sequence as feature columns.

:class:`~hms_features.models.nn.LSTMEmbedder` reads a window as a short sequence of feature
vectors. This family computes that sequence -
:func:`hms_features.models.sequences.subwindow_sequence` on the preprocessed 50 s window: ten 5 s
sub-windows, each described per chain (LL, LP, RP, RL, C) by the log relative power of delta,
theta, alpha and beta, the log total power and the log line length (30 values) - and flattens it
step-major with
:func:`~hms_features.models.sequences.sequence_table`, so it travels in the feature table like
any other family: 300 columns ``seq_{measure}_{chain}_5s_t{step:02d}``, which
``LSTMEmbedder(n_steps=10)`` reshapes back (select them with the ``"seq_"`` prefix).

Not in the ``default`` or ``fast`` sets (``register(..., default=False)``): the booster gains
little from the raw sequence, and the columns only serve an LSTM. Ask for it by name:
``build_features(ds, ["spectral", ..., "seq"])`` or ``hms-features ... --feature-set
default,seq``; ``--embedders lstm`` on the command line adds it by itself.

Fill values: the preprocessed windows have no gaps, and a silent chain gives ``log(eps)``
terms (finite), so the columns are always finite.
"""

from __future__ import annotations

import numpy as np

from .base import FeatureContext, register

__all__ = ["compute_seq", "SEQ_STEP_S"]

#: Sub-window length of the sequence, seconds (T = 50 s / 5 s = 10 steps).
SEQ_STEP_S = 5.0


@register("seq", spans=(), fast=False, default=False)
def compute_seq(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """``seq_*_t{step}`` columns: :func:`subwindow_sequence` of the whole window, step-major."""
    from ..models.sequences import sequence_table, subwindow_sequence

    seq, names = subwindow_sequence(ctx.eeg, fs=ctx.fs, step_s=SEQ_STEP_S, return_names=True)
    table = sequence_table(seq, names)
    return {c: table[c].to_numpy() for c in table.columns}

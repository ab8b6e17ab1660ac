"""EEG channel names, montages and preprocessing.

Channel names live here, once. Everything else in the library imports them.

Arrays inside the library are ``(windows, channels, samples)`` float32 in µV; the sampling
rate ``fs`` is always an explicit parameter (Hz), 200 Hz by default.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FS",
    "EEG_COLUMNS",
    "SCALP_CHANNELS",
    "EKG_CHANNEL",
    "CHAINS",
    "BIPOLAR_PAIRS",
    "BIPOLAR_NAMES",
    "bipolar",
    "average_reference",
]

#: Sampling rate of the HMS EEG files, Hz.
FS = 200.0

#: The 20 columns of a Kaggle ``*_eegs/{eeg_id}.parquet`` file, in file order.
EEG_COLUMNS = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz",
    "Pz", "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2", "EKG",
)
#: The 19 scalp electrodes (10-20 system), in file order.
SCALP_CHANNELS = EEG_COLUMNS[:19]
#: The electrocardiogram column, kept apart from every montage.
EKG_CHANNEL = "EKG"

#: Double-banana chains, each a list of electrodes from front to back. The four lateral chains
#: are named as in the Kaggle spectrogram files (LL, RL, LP, RP); ``C`` is the central chain.
CHAINS = {
    "LL": ("Fp1", "F7", "T3", "T5", "O1"),
    "LP": ("Fp1", "F3", "C3", "P3", "O1"),
    "RP": ("Fp2", "F4", "C4", "P4", "O2"),
    "RL": ("Fp2", "F8", "T4", "T6", "O2"),
    "C": ("Fz", "Cz", "Pz"),
}

#: The 18 bipolar derivations of the double banana as ``(chain, anode, cathode)``.
BIPOLAR_PAIRS = tuple(
    (chain, a, b) for chain, elec in CHAINS.items() for a, b in zip(elec[:-1], elec[1:])
)
#: Derivation names such as ``"Fp1-F7"``, in :data:`BIPOLAR_PAIRS` order.
BIPOLAR_NAMES = tuple(f"{a}-{b}" for _, a, b in BIPOLAR_PAIRS)

_INDEX = {name: i for i, name in enumerate(EEG_COLUMNS)}
_ANODES = np.array([_INDEX[a] for _, a, _ in BIPOLAR_PAIRS])
_CATHODES = np.array([_INDEX[b] for _, _, b in BIPOLAR_PAIRS])


def bipolar(eeg: np.ndarray) -> np.ndarray:
    """Double-banana bipolar montage.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples) or (20, n_samples)
        Referential EEG in µV with channels in :data:`EEG_COLUMNS` order (EKG last, ignored).

    Returns
    -------
    array, shape (n_windows, 18, n_samples) or (18, n_samples)
        ``anode - cathode`` in µV for each derivation of :data:`BIPOLAR_NAMES`, same dtype.
    """
    eeg = np.asarray(eeg)
    if eeg.shape[-2] != len(EEG_COLUMNS):
        raise ValueError(
            f"bipolar: expected {len(EEG_COLUMNS)} channels ({', '.join(EEG_COLUMNS)}) on axis -2, "
            f"got shape {eeg.shape}"
        )
    return eeg[..., _ANODES, :] - eeg[..., _CATHODES, :]


def average_reference(eeg: np.ndarray) -> np.ndarray:
    """Common average reference of the 19 scalp channels.

    Parameters
    ----------
    eeg : array, shape (..., 20, n_samples)
        Referential EEG in µV, channels in :data:`EEG_COLUMNS` order.

    Returns
    -------
    array, shape (..., 19, n_samples)
        Each scalp channel minus the mean of the 19 scalp channels (µV); EKG dropped.
    """
    eeg = np.asarray(eeg)
    if eeg.shape[-2] != len(EEG_COLUMNS):
        raise ValueError(f"average_reference: expected 20 channels on axis -2, got {eeg.shape}")
    scalp = eeg[..., :19, :]
    return scalp - scalp.mean(axis=-2, keepdims=True)

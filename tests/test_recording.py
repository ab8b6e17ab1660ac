"""Whole recordings: EDF/parquet reading, channel matching, sliding windows, scanning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_features.data import HMSError, read_eeg_parquet
from hms_features.metrics import CLASSES
from hms_features.recording import (
    match_channels,
    normalize_channel_name,
    plot_scan,
    read_recording,
    scan_file,
    scan_recording,
    sliding_windows,
)
from hms_features.signal import EEG_COLUMNS, bipolar

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ an EDF/BDF writer (the specs)
def write_edf(path, signals, labels, fs: int, units=None, bdf: bool = False) -> None:
    """Write a plain EDF file (1 s data records, 16-bit samples) as the EDF spec lays it out,
    or with ``bdf=True`` a BioSemi BDF file (24-bit samples).

    Header: 256 bytes of ASCII fields, then 256 bytes per signal (each field for every signal in
    turn); then each data record holds ``fs`` little-endian samples of every signal, int16 (EDF)
    or 3-byte two's complement (BDF, whose header starts with byte 255 + "BIOSEMI" and reserves
    "24BIT"). Physical value = pmin + (digital - dmin) * (pmax - pmin) / (dmax - dmin).
    """
    signals = [np.asarray(s, dtype=np.float64) for s in signals]
    ns, n = len(signals), len(signals[0])
    assert n % fs == 0
    units = units or ["uV"] * ns
    n_rec = n // fs
    dmin, dmax = (-(2**23), 2**23 - 1) if bdf else (-(2**15), 2**15 - 1)

    def field(value, width):
        return str(value)[:width].ljust(width).encode("ascii")

    version = b"\xffBIOSEMI" if bdf else field("0", 8)
    head = (version + field("X X X X", 80) + field("Startdate 01-JAN-2020 X X X", 80)
            + field("01.01.20", 8) + field("00.00.00", 8) + field(256 + 256 * ns, 8)
            + field("24BIT" if bdf else "", 44) + field(n_rec, 8) + field(1, 8) + field(ns, 4))
    pmax = [float(f"{max(np.abs(s).max(), 1e-3) * 1.01:.6g}") for s in signals]
    head += b"".join(field(lab, 16) for lab in labels)
    head += b"".join(field("AgAgCl electrode", 80) for _ in labels)
    head += b"".join(field(u, 8) for u in units)
    head += b"".join(field(f"{-m:.6g}", 8) for m in pmax)
    head += b"".join(field(f"{m:.6g}", 8) for m in pmax)
    head += b"".join(field(dmin, 8) for _ in labels)
    head += b"".join(field(dmax, 8) for _ in labels)
    head += b"".join(field("", 80) for _ in labels)
    head += b"".join(field(fs, 8) for _ in labels)
    head += b"".join(field("", 32) for _ in labels)
    assert len(head) == 256 + 256 * ns
    digital = np.stack([
        np.clip(np.round((s + m) / (2 * m) * (dmax - dmin) + dmin), dmin, dmax)
        .astype("<i4").reshape(n_rec, fs)
        for s, m in zip(signals, pmax)
    ], axis=1)  # (records, signals, samples)
    if bdf:  # the low 3 bytes of each little-endian int32
        data = digital.view(np.uint8).reshape(digital.shape + (4,))[..., :3].tobytes()
    else:
        data = digital.astype("<i2").tobytes()
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(data)


# Labels as a US hospital's EDF export spells them: modern 10-20 names, prefix and suffix.
EDF_LABELS = {
    "Fp1": "EEG FP1-REF", "F3": "EEG F3-REF", "C3": "EEG C3-REF", "P3": "EEG P3-REF",
    "F7": "EEG F7-REF", "T3": "EEG T7-REF", "T5": "EEG P7-REF", "O1": "EEG O1-REF",
    "Fz": "EEG FZ-REF", "Cz": "EEG CZ-REF", "Pz": "EEG PZ-REF", "Fp2": "EEG FP2-REF",
    "F4": "EEG F4-REF", "C4": "EEG C4-REF", "P4": "EEG P4-REF", "F8": "EEG F8-REF",
    "T4": "EEG T8-REF", "T6": "EEG P8-REF", "O2": "EEG O2-REF", "EKG": "ECG",
}


def _amplitudes():
    """A distinct 6 Hz sine amplitude (µV) per EEG_COLUMNS channel, so order can be checked."""
    return {c: 10.0 + 5.0 * i for i, c in enumerate(EEG_COLUMNS)}


def _edf_recording(tmp_path, fs=256, seconds=20, drop=(), units_mv=("EKG",), name="rec.edf",
                   bdf=False):
    t = np.arange(fs * seconds) / fs
    amp = _amplitudes()
    order = list(EEG_COLUMNS)[::-1]  # file order differs from EEG_COLUMNS
    chans = [c for c in order if c not in drop]
    signals, labels, units = [], [], []
    for c in chans:
        s = amp[c] * np.sin(2 * np.pi * 6.0 * t)
        if c in units_mv:
            signals.append(s / 1000.0)
            units.append("mV")
        else:
            signals.append(s)
            units.append("uV")
        labels.append(EDF_LABELS[c])
    # an extra channel that must be ignored
    signals.append(np.zeros_like(t))
    labels.append("Photic")
    units.append("uV")
    path = tmp_path / name
    write_edf(path, signals, labels, fs, units, bdf=bdf)
    return path


# ------------------------------------------------------------------ channel names
@pytest.mark.parametrize("label, expected", [
    ("EEG Fp1-REF", "FP1"), ("FP1", "FP1"), ("fp1-le", "FP1"), ("EEG T7-REF", "T3"),
    ("T8", "T4"), ("p7", "T5"), ("EEG P8-LE", "T6"), ("T3", "T3"), ("EEG Cz - REF", "CZ"),
    ("ECG", "EKG"), ("EKG1", "EKG"), ("EEG EKG1-REF", "EKG"), ("ECG2", "EKG"),
    ("Photic", "PHOTIC"), ("EEG", "EEG"),
])
def test_normalize_channel_name(label, expected):
    assert normalize_channel_name(label) == expected


def test_match_channels_first_duplicate_wins_and_missing_listed():
    names = [f"EEG {c}-REF" for c in EEG_COLUMNS[:19]] + ["T7", "EKG"]
    index, notes = match_channels(names)
    assert index == list(range(19)) + [20]  # "EEG T3-REF" (5) beats the later "T7" (19)
    assert any("T3" in n and "T7" in n for n in notes)
    with pytest.raises(HMSError, match=r"rec\.edf: missing EEG channel\(s\) O1, Pz"):
        match_channels([c for c in EEG_COLUMNS if c not in ("O1", "Pz")], "rec.edf")


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize("kind", ["edf", "bdf"])
def test_read_edf_aliases_units_and_resampling(tmp_path, kind):
    path = _edf_recording(tmp_path, fs=256, seconds=20, name=f"rec.{kind}", bdf=kind == "bdf")
    eeg, fs = read_recording(path)
    assert fs == 200.0
    assert eeg.dtype == np.float32 and eeg.shape == (20, 20 * 200)
    # each channel lands in its EEG_COLUMNS row with its amplitude in µV (EKG was stored in mV)
    core = eeg[:, 400:-400].astype(np.float64)  # away from the resampling filter's edges
    amp = np.sqrt(2) * core.std(axis=1)
    expected = np.array([_amplitudes()[c] for c in EEG_COLUMNS])
    np.testing.assert_allclose(amp, expected, rtol=0.01)
    # still a 6 Hz sine after 256 -> 200 Hz
    spectrum = np.abs(np.fft.rfft(core[0]))
    freqs = np.fft.rfftfreq(core.shape[1], 1 / 200)
    assert freqs[spectrum.argmax()] == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("kind, bits", [("edf", 16), ("bdf", 24)])
def test_read_edf_and_bdf_to_their_sample_resolution(tmp_path, kind, bits):
    # at 200 Hz nothing is resampled: values come back within one quantisation step
    # (2 * 1.01 * amplitude / 2**bits), which tells 24-bit BDF decoding from 16-bit EDF
    path = _edf_recording(tmp_path, fs=200, seconds=4, name=f"exact.{kind}", bdf=kind == "bdf")
    eeg, fs = read_recording(path)
    t = np.arange(4 * 200) / 200
    amp = np.array([_amplitudes()[c] for c in EEG_COLUMNS])[:, None]
    err = np.abs(eeg - amp * np.sin(2 * np.pi * 6.0 * t)) / amp
    step = 2 * 1.01 / 2**bits
    assert fs == 200.0 and err.max() <= step + 1e-6
    if kind == "bdf":
        assert err.max() < 2 * 1.01 / 2**16 / 10  # ten times finer than 16 bits allow


def test_read_edf_missing_channels_names_them_and_the_file(tmp_path):
    path = _edf_recording(tmp_path, drop=("O2", "Cz"), name="no_o2_cz.edf")
    with pytest.raises(HMSError) as err:
        read_recording(path)
    msg = str(err.value)
    assert "no_o2_cz.edf" in msg and "O2" in msg and "Cz" in msg
    assert "Fp1" not in msg.split("missing EEG channel(s)")[1].split(";")[0]


def test_read_edf_without_ekg_warns_and_fills_zeros(tmp_path):
    path = _edf_recording(tmp_path, fs=200, drop=("EKG",), name="no_ekg.edf")
    with pytest.warns(UserWarning, match="no_ekg.edf.*EKG set to zeros"):
        eeg, fs = read_recording(path)
    assert eeg.shape == (20, 20 * 200)
    assert not eeg[-1].any()
    np.testing.assert_allclose(np.sqrt(2) * eeg[0].std(), _amplitudes()["Fp1"], rtol=0.01)


def test_read_parquet_matches_kaggle_reader(hms_mini):
    path = hms_mini / "train_eegs" / "1628180742.parquet"
    eeg, fs = read_recording(path)
    assert fs == 200.0 and eeg.shape == (20, 18000) and eeg.flags.c_contiguous
    np.testing.assert_array_equal(eeg, read_eeg_parquet(path).T)


def test_read_recording_bad_inputs(tmp_path):
    with pytest.raises(HMSError, match="file not found"):
        read_recording(tmp_path / "absent.edf")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(HMSError, match=r"notes\.txt: unsupported file type '\.txt'"):
        read_recording(bad)
    fake = tmp_path / "fake.edf"
    fake.write_bytes(b"this is not an EDF header" * 4)
    with pytest.raises(HMSError, match=r"fake\.edf: not a recording MNE can read"):
        read_recording(fake)


def test_read_recording_resamples_with_the_one_resampler(tmp_path):
    # a 256 Hz EDF comes back exactly as montage.resample brings the file's samples to 200 Hz
    # (mean removed, edge padding), not with a second resampler of its own
    import mne

    from hms_features.montage import resample

    path = _edf_recording(tmp_path, fs=256, seconds=10, name="r256.edf")
    eeg, fs = read_recording(path)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    expected = resample((raw.get_data() * 1e6).astype(np.float32), 256.0, 200.0)
    index, _ = match_channels(raw.ch_names)
    np.testing.assert_array_equal(eeg, expected[index])


def test_read_recording_below_100_hz_is_an_error(tmp_path):
    path = _edf_recording(tmp_path, fs=64, seconds=4, name="slow.edf")
    with pytest.raises(HMSError, match=r"slow\.edf: sampling rate 64 Hz is below 100 Hz"):
        read_recording(path)


# ------------------------------------------------------------------ windows
def test_sliding_windows_is_a_read_only_view_with_the_right_content():
    rng = np.random.default_rng(1)
    eeg = rng.normal(size=(20, 200 * 130)).astype(np.float32)
    windows, starts = sliding_windows(eeg, fs=200, window_s=50, step_s=10)
    assert windows.shape == (9, 20, 10000)  # starts 0, 10, ..., 80 s
    np.testing.assert_array_equal(starts, np.arange(0, 81, 10.0))
    assert np.shares_memory(windows, eeg)
    assert not windows.flags.writeable
    with pytest.raises(ValueError):
        windows[0, 0, 0] = 1.0
    for k in (0, 4, 8):
        np.testing.assert_array_equal(windows[k], eeg[:, 2000 * k: 2000 * k + 10000])
    # float64 input is converted once, then viewed
    w64, _ = sliding_windows(eeg.astype(np.float64), fs=200, window_s=50, step_s=10)
    assert w64.dtype == np.float32 and not np.shares_memory(w64, eeg)


def test_sliding_windows_rejects_bad_arguments():
    eeg = np.zeros((20, 200 * 40), np.float32)
    with pytest.raises(HMSError, match="lasts 40 s, shorter than one window"):
        sliding_windows(eeg, fs=200, window_s=50)
    with pytest.raises(ValueError, match="step_s=0.0013"):
        sliding_windows(eeg, fs=200, window_s=10, step_s=0.0013)
    with pytest.raises(ValueError, match="n_channels, n_samples"):
        sliding_windows(eeg[None], fs=200)


# ------------------------------------------------------------------ scanning
def _rhythmic_delta_detector(fs=200.0):
    """Seizure probability from the 2.5-3.5 Hz power of the central 10 s (bipolar montage)."""

    def predict_proba(windows):
        n = windows.shape[-1]
        centre = windows[..., n // 2 - int(5 * fs): n // 2 + int(5 * fs)]
        x = bipolar(np.asarray(centre, dtype=np.float64))
        spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
        freqs = np.fft.rfftfreq(x.shape[-1], 1 / fs)
        band = spec[..., (freqs >= 2.5) & (freqs <= 3.5)].sum(-1)
        total = spec[..., (freqs >= 0.5) & (freqs <= 30)].sum(-1)
        ratio = (band / total).mean(axis=1)
        seizure = 1 / (1 + np.exp(-(ratio - 0.3) * 40))
        out = np.zeros((len(windows), len(CLASSES)))
        out[:, 0] = seizure
        out[:, -1] = 1 - seizure
        return out

    return predict_proba


def test_scan_finds_an_injected_seizure_at_the_right_time(tmp_path):
    fs, seconds = 200, 900
    rng = np.random.default_rng(7)
    eeg = rng.normal(scale=15.0, size=(20, fs * seconds)).astype(np.float32)
    onset, offset = 400.0, 460.0
    t = np.arange(int(onset * fs), int(offset * fs)) / fs
    for ch in range(19):  # 3 Hz, 150 µV, a phase lag per electrode so the bipolar pairs see it
        eeg[ch, int(onset * fs): int(offset * fs)] += 150 * np.sin(2 * np.pi * 3 * t + 0.6 * ch)
    df = scan_recording(_rhythmic_delta_detector(fs), eeg, fs=fs, step_s=10, batch_size=16)
    assert list(df.columns) == ["start_s", "centre_s", *CLASSES]
    assert len(df) == (seconds - 50) // 10 + 1
    np.testing.assert_array_equal(df["centre_s"], df["start_s"] + 25)
    inside = (df["centre_s"] - 5 >= onset) & (df["centre_s"] + 5 <= offset)
    outside = (df["centre_s"] + 5 <= onset) | (df["centre_s"] - 5 >= offset)
    assert inside.sum() == 6 and (df.loc[inside, "seizure"] > 0.9).all()
    assert (df.loc[outside, "seizure"] < 0.1).all()
    peak = df.loc[df["seizure"].idxmax(), "centre_s"]
    assert onset <= peak <= offset
    png = plot_scan(df, tmp_path / "scan.png")
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_scan_passes_aligned_spectrogram_windows():
    eeg = np.zeros((20, 200 * 100), np.float32)
    time = np.arange(1, 200, 2)  # a 200 s spectrogram, row centres 1, 3, ... s
    values = np.repeat(time[:, None].astype(np.float32), 400, axis=1)
    seen = []

    def predict_proba(windows, spectrograms):
        assert windows.flags.c_contiguous and windows.dtype == np.float32
        assert windows.shape[1:] == (20, 10000) and len(windows) <= 4
        seen.append(spectrograms)
        return np.full((len(windows), 6), 1 / 6)

    df = scan_recording(predict_proba, eeg, step_s=10, spectrogram=(time, values), batch_size=4)
    spec = np.concatenate(seen)
    assert spec.shape == (len(df), 300, 400)
    # row 150 of a 600 s window starts at its centre: time == centre (centres are odd seconds)
    np.testing.assert_array_equal(spec[:, 150, 0], df["centre_s"].to_numpy())
    assert np.isnan(spec[0, :137]).all() and spec[0, 138, 0] == 1.0


def test_scan_rejects_a_bad_predict_proba():
    eeg = np.zeros((20, 200 * 60), np.float32)
    with pytest.raises(ValueError, match=r"returned shape \(2, 5\)"):
        scan_recording(lambda w: np.zeros((len(w), 5)), eeg)
    with pytest.raises(ValueError, match="NaN"):
        scan_recording(lambda w: np.full((len(w), 6), np.nan), eeg)
    with pytest.raises(ValueError, match=r"\(20, n_samples\)"):
        scan_recording(lambda w: w, eeg[:19])


def test_plot_scan_needs_scan_columns(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        plot_scan(pd.DataFrame({"centre_s": [1.0]}), tmp_path / "x.png")


def test_scan_file_reads_an_edf_at_256_hz_and_writes_csv_and_png(tmp_path):
    fs, seconds = 256, 120
    rng = np.random.default_rng(11)
    t = np.arange(fs * seconds) / fs
    seizure = (t >= 60) & (t < 90)
    signals = []
    for i, c in enumerate(EEG_COLUMNS):
        x = rng.normal(scale=15.0, size=t.size)
        if c != "EKG":
            x += seizure * 150 * np.sin(2 * np.pi * 3 * t + 0.6 * i)
        signals.append(x)
    path = tmp_path / "long.edf"
    write_edf(path, signals, [EDF_LABELS[c] for c in EEG_COLUMNS], fs)
    res = scan_file(path, _rhythmic_delta_detector(), tmp_path / "out" / "scan.csv", step_s=10)
    df = res.proba
    np.testing.assert_array_equal(df["centre_s"], np.arange(25, 96, 10.0))
    hot = df.loc[df["seizure"] > 0.5, "centre_s"].tolist()
    assert hot == [65.0, 75.0, 85.0]
    back = pd.read_csv(tmp_path / "out" / "scan.csv")
    assert list(back.columns) == ["start_s", "centre_s", *CLASSES]
    np.testing.assert_allclose(back[list(CLASSES)], df[list(CLASSES)], atol=1e-5)
    assert (tmp_path / "out" / "scan.png").read_bytes()[:8] == PNG_SIGNATURE
    # one seizure event from 60 to 90 s (windows centred 65..85 s stand for 10 s each)
    assert res.events[["onset", "duration"]].values.tolist() == [[60.0, 30.0]]
    assert res.events["trial_type"].tolist() == ["seizure"]
    assert res.duration_s == 120.0
    short = tmp_path / "short.edf"
    write_edf(short, [s[: fs * 30] for s in signals], [EDF_LABELS[c] for c in EEG_COLUMNS], fs)
    with pytest.raises(HMSError, match=r"short\.edf: the recording lasts 30 s, shorter than one"):
        scan_file(short, _rhythmic_delta_detector())

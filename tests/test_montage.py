"""Montage layer: any channel set -> double banana, edge-safe resampling, MNE/EDF/FIF input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from hms_features.data import HMSError, read_eeg_parquet
from hms_features.montage import (
    MontageError,
    double_banana,
    from_mne,
    iter_montage,
    load_montage,
    parse_channel,
    read_any,
    resample,
)
from hms_features.signal import BIPOLAR_NAMES, BIPOLAR_PAIRS, EEG_COLUMNS, bipolar

#: CHB-MIT's bipolar labels (modern names T7/P7/T8/P8), in the order of BIPOLAR_NAMES.
CHB_LABELS = [f"{a}-{b}".upper().replace("T3", "T7").replace("T5", "P7").replace("T4", "T8")
              .replace("T6", "P8") for _, a, b in BIPOLAR_PAIRS]


@pytest.fixture(scope="module")
def real_eeg(hms_mini):
    """A real HMS recording, (20, n) float32 µV, 200 Hz (90 s)."""
    return np.ascontiguousarray(read_eeg_parquet(hms_mini / "train_eegs" / "1628180742.parquet").T)


def _random_eeg(n=1000, seed=0):
    return np.random.default_rng(seed).normal(0, 30, (20, n)).astype(np.float32)


# ----------------------------------------------------------------------------- names

def test_parse_channel_kinds():
    assert parse_channel("EEG T7-REF") == ("ref", "T3")
    assert parse_channel("fp1") == ("ref", "Fp1")
    assert parse_channel("FP1-LE") == ("ref", "Fp1")
    assert parse_channel("FP1-F7") == ("bipolar", "Fp1", "F7")
    assert parse_channel("T8-P8-0") == ("bipolar", "T4", "T6")
    assert parse_channel("P7-O1") == ("bipolar", "T5", "O1")
    assert parse_channel("ECG") == ("other", None)
    assert parse_channel("--0") == ("other", None)


# ----------------------------------------------------------------------------- referential

def test_referential_full_equals_signal_bipolar():
    eeg = _random_eeg()
    m = double_banana(eeg, EEG_COLUMNS)
    assert m.names == BIPOLAR_NAMES and m.present.all() and m.dropped == ()
    assert m.unused == ("EKG",) and m.missing_electrodes == ()
    np.testing.assert_allclose(m.data, bipolar(eeg), rtol=0, atol=1e-4)


def test_referential_label_variants_and_order():
    eeg = _random_eeg()
    labels = [f"EEG {c.upper()}-REF" for c in EEG_COLUMNS]
    labels[EEG_COLUMNS.index("T3")] = "EEG T7-REF"
    labels[EEG_COLUMNS.index("T6")] = "p8"
    perm = np.random.default_rng(1).permutation(20)
    m = double_banana(eeg[perm], [labels[i] for i in perm])
    assert m.present.all()
    np.testing.assert_allclose(m.data, bipolar(eeg), rtol=0, atol=1e-4)


def test_three_channels_give_two_derivations_and_report_the_rest():
    eeg = _random_eeg()
    idx = [EEG_COLUMNS.index(c) for c in ("Fp1", "F7", "T3")]
    m = double_banana(eeg[idx], ["Fp1", "F7", "T7"])
    assert m.names == ("Fp1-F7", "F7-T3")
    assert m.present.sum() == 2 and m.present[[0, 1]].all()
    assert len(m.dropped) == 16 and "T3-T5" in m.dropped
    assert m.chains["LL"] == ("Fp1-F7", "F7-T3") and m.chains["C"] == ()
    np.testing.assert_allclose(m.data, bipolar(eeg)[:2], atol=1e-4)
    full = m.full()
    assert full.shape == (18, eeg.shape[1])
    assert np.isnan(full[2:]).all() and np.array_equal(full[:2], m.data)


def test_single_referential_channel_is_an_error_naming_missing():
    with pytest.raises(MontageError, match=r"rec\.edf: no double-banana.*missing electrode.*F7"):
        double_banana(np.zeros((1, 100)), ["Cz"], source="rec.edf")
    assert issubclass(MontageError, ValueError)


def test_required_chain_missing_is_an_error():
    eeg = _random_eeg()
    idx = [EEG_COLUMNS.index(c) for c in ("Fz", "Cz", "Pz")]
    m = double_banana(eeg[idx], ["Fz", "Cz", "Pz"])
    assert m.names == ("Fz-Cz", "Cz-Pz")
    with pytest.raises(MontageError, match="chain.*LL.*no derivation left"):
        double_banana(eeg[idx], ["Fz", "Cz", "Pz"], require_chains=("LL",))


# ----------------------------------------------------------------------------- bipolar input

def test_chb_mit_bipolar_labels_used_as_they_are():
    eeg = _random_eeg()
    bip = bipolar(eeg)
    labels = list(CHB_LABELS)
    # CHB-MIT repeats T8-P8 (MNE renames the copies) and has dummy "-" channels
    k = BIPOLAR_NAMES.index("T4-T6")
    data = np.concatenate([bip, bip[[k]], np.zeros((1, bip.shape[1]), np.float32)])
    assert labels[k] == "T8-P8"
    labels[k] = "T8-P8-0"
    labels += ["T8-P8-1", "--0"]
    m = double_banana(data, labels)
    assert m.names == BIPOLAR_NAMES and m.unused == ("--0",)
    np.testing.assert_array_equal(m.data, bip)
    assert m.sources[0] == "FP1-F7"


def test_reversed_bipolar_channel_is_sign_flipped():
    eeg = _random_eeg()
    bip = bipolar(eeg)
    m = double_banana(-bip[[0]], ["F7-FP1"])
    assert m.names == ("Fp1-F7",) and m.sources == ("-(F7-FP1)",)
    np.testing.assert_array_equal(m.data, bip[[0]])


def test_single_bipolar_channel_gives_one_derivation():
    x = np.arange(50, dtype=np.float32)[None]
    m = double_banana(x, ["EEG FP1-F7"])
    assert m.names == ("Fp1-F7",) and len(m.dropped) == 17
    np.testing.assert_array_equal(m.data, x)


def test_bipolar_preferred_over_referential():
    eeg = _random_eeg()
    extra = np.full((1, eeg.shape[1]), 7.0, np.float32)
    m = double_banana(np.concatenate([eeg, extra]), list(EEG_COLUMNS) + ["FP1-F7"])
    np.testing.assert_array_equal(m.data[0], extra[0])
    np.testing.assert_allclose(m.data[1:], bipolar(eeg)[1:], atol=1e-4)


def test_epochs_shape_kept():
    eeg = np.stack([_random_eeg(seed=s) for s in range(3)])
    m = double_banana(eeg, EEG_COLUMNS)
    assert m.data.shape == (3, 18, eeg.shape[-1])
    np.testing.assert_allclose(m.data, bipolar(eeg), atol=1e-4)


# ----------------------------------------------------------------------------- resampling

def test_resample_dc_offset_has_no_edge_step():
    fs_in, fs_out = 173.61, 200.0
    t = np.arange(4097) / fs_in
    x = 500.0 + 40.0 * np.sin(2 * np.pi * 7.0 * t + 0.7)
    y = resample(x[None], fs_in, fs_out)[0]
    # exact ratio 200 / 173.61 = 20000 / 17361; scipy reference with the mean removed
    assert len(y) == int(np.ceil(len(x) * 20000 / 17361))
    ref = resample_poly(x - x.mean(), 20000, 17361, padtype="edge") + x.mean()
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-3)
    truth = 500.0 + 40.0 * np.sin(2 * np.pi * 7.0 * np.arange(len(y)) / fs_out + 0.7)
    err = np.abs(y - truth)
    assert err[:20].max() < 1.0 and err[-20:].max() < 1.0  # µV, against a 500 µV offset
    assert err[200:-200].max() < 0.1
    # zero padding (resample_poly's default, which recording.resample used before delegating
    # here) shows the step this test guards against, at the end where the last output sample
    # lies past the last input sample
    old = resample_poly(x, 20000, 17361)
    assert len(old) == len(truth) and np.abs(old - truth)[-5:].max() > 50


def test_resample_identity_and_errors():
    x = np.ones((2, 10))
    out = resample(x, 200, 200)
    assert out.dtype == np.float32 and np.array_equal(out, x)
    with pytest.raises(ValueError, match="fs_in"):
        resample(x, 0, 200)
    # a rate stored as float32 (as FIF does) is the same rate
    y = np.random.default_rng(0).normal(size=(1, 1000))
    np.testing.assert_array_equal(resample(y, float(np.float32(173.61)), 200),
                                  resample(y, 173.61, 200))
    with pytest.raises(ValueError, match="NaN"):
        resample(np.array([[1.0, np.nan, 2.0]]), 100, 200)


# ----------------------------------------------------------------------------- MNE and files

def _raw(eeg, ch_names, sfreq=200.0):
    import mne

    info = mne.create_info(list(ch_names), sfreq, "eeg")
    return mne.io.RawArray(eeg.astype(np.float64) * 1e-6, info, verbose="error")


def test_from_mne_raw_and_epochs_equal_array_path(real_eeg):
    import mne

    raw = _raw(real_eeg, EEG_COLUMNS)
    data, names, sfreq = from_mne(raw)
    assert names == list(EEG_COLUMNS) and sfreq == 200.0
    np.testing.assert_allclose(data, real_eeg, rtol=1e-6, atol=1e-3)
    m = double_banana(data, names)
    np.testing.assert_allclose(m.data, bipolar(real_eeg), rtol=1e-5, atol=2e-3)

    epochs = mne.make_fixed_length_epochs(raw, duration=10.0, preload=True, verbose="error")
    edata, enames, _ = from_mne(epochs)
    assert edata.shape == (9, 20, 2000)
    np.testing.assert_allclose(edata[3], real_eeg[:, 6000:8000], rtol=1e-6, atol=1e-3)


def test_from_mne_skips_stim_channels():
    import mne

    info = mne.create_info(["Fp1", "F7", "STI 014"], 100.0, ["eeg", "eeg", "stim"])
    raw = mne.io.RawArray(np.ones((3, 50)) * 1e-6, info, verbose="error")
    data, names, sfreq = from_mne(raw)
    assert names == ["Fp1", "F7"] and sfreq == 100.0
    np.testing.assert_allclose(data, 1.0)


def _write_edf(path, data, labels, fs=200.0, bdf=False):
    import edfio

    sig, rec, read = ((edfio.BdfSignal, edfio.Bdf, edfio.read_bdf) if bdf
                      else (edfio.EdfSignal, edfio.Edf, edfio.read_edf))
    rec([sig(np.asarray(x, np.float64), fs, label=lab, physical_dimension="uV")
         for x, lab in zip(data, labels)]).write(path)
    return [s.data for s in read(path).signals]  # the values the file holds, µV


@pytest.mark.parametrize("bdf", [False, True])
def test_real_eeg_through_edf_referential(real_eeg, tmp_path, bdf):
    path = tmp_path / ("rec.bdf" if bdf else "rec.edf")
    labels = [f"EEG {c.upper()}-REF" for c in EEG_COLUMNS]
    labels[EEG_COLUMNS.index("T5")] = "EEG P7-REF"
    stored = np.array(_write_edf(path, real_eeg, labels, bdf=bdf))
    data, names, sfreq = read_any(path)
    assert names == labels and sfreq == 200.0 and data.shape == real_eeg.shape
    # what MNE reads is what edfio (an independent reader) reads, to float32 precision
    np.testing.assert_allclose(data, stored, rtol=1e-6, atol=1e-3)
    # and the original within the file's quantisation step (16 or 24 bits over each range)
    step = np.ptp(real_eeg, axis=1) / (2 ** (24 if bdf else 16) - 1)
    assert (np.abs(data - real_eeg).max(axis=1) <= step + 1e-3).all()
    m = double_banana(data, names, source=str(path))
    assert m.present.all()
    np.testing.assert_allclose(m.data, bipolar(stored.astype(np.float32)), atol=2e-3)


def test_real_eeg_through_bipolar_edf(real_eeg, tmp_path):
    path = tmp_path / "chb.edf"
    bip = bipolar(real_eeg)
    stored = np.array(_write_edf(path, bip, CHB_LABELS))
    m = double_banana(*read_any(path)[:2], source=str(path))
    assert m.names == BIPOLAR_NAMES
    np.testing.assert_allclose(m.data, stored, rtol=1e-6, atol=1e-3)
    step = np.ptp(bip, axis=1) / (2**16 - 1)
    assert (np.abs(m.data - bip).max(axis=1) <= step + 1e-3).all()


def test_real_eeg_through_fif(real_eeg, tmp_path):
    path = tmp_path / "rec_raw.fif"
    _raw(real_eeg, EEG_COLUMNS).save(path, verbose="error")
    data, names, sfreq = read_any(path)
    assert names == list(EEG_COLUMNS) and sfreq == 200.0
    np.testing.assert_allclose(data, real_eeg, rtol=1e-6, atol=1e-3)


def test_read_any_errors(tmp_path):
    with pytest.raises(HMSError, match="nope.edf: file not found"):
        read_any(tmp_path / "nope.edf")
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"not an edf at all")
    with pytest.raises(HMSError, match="bad.edf: not a recording MNE can read"):
        read_any(bad)


def test_from_mne_block_reads_equal_slices(real_eeg, tmp_path):
    path = tmp_path / "rec_raw.fif"
    _raw(real_eeg, EEG_COLUMNS).save(path, verbose="error")
    block, _, _ = read_any(path, start_s=30.0, stop_s=40.0)
    np.testing.assert_allclose(block, real_eeg[:, 6000:8000], rtol=1e-6, atol=1e-3)
    tail, _, _ = read_any(path, start_s=85.0, stop_s=1e9)
    assert tail.shape == (20, 1000)
    with pytest.raises(ValueError, match="empty or negative span"):
        read_any(path, start_s=100.0)


def test_load_montage_every_input_gives_the_same_derivations(real_eeg, tmp_path):
    import mne

    expected = bipolar(real_eeg)
    raw = _raw(real_eeg, EEG_COLUMNS)
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    for source, kw in ((real_eeg, {"ch_names": EEG_COLUMNS, "sfreq": 200.0}), (raw, {}),
                       (path, {}), (str(path), {})):
        m, fs = load_montage(source, **kw)
        assert fs == 200.0 and m.names == BIPOLAR_NAMES
        np.testing.assert_allclose(m.data, expected, rtol=1e-5, atol=2e-3)
    epochs = mne.make_fixed_length_epochs(raw, duration=10.0, preload=True, verbose="error")
    m, _ = load_montage(epochs)
    np.testing.assert_allclose(m.data[2], expected[:, 4000:6000], rtol=1e-5, atol=2e-3)
    with pytest.raises(ValueError, match="needs ch_names and sfreq"):
        load_montage(real_eeg)
    low = tmp_path / "low_raw.fif"
    _raw(real_eeg[:, ::4], EEG_COLUMNS, sfreq=50.0).save(low, verbose="error")
    with pytest.raises(HMSError, match=r"low_raw.fif: sampling rate 50 Hz is below 100 Hz"):
        load_montage(low)


def test_load_montage_resamples_to_200_hz():
    fs_in = 173.61
    t = np.arange(4097) / fs_in
    eeg = np.zeros((2, t.size))
    eeg[0] = 100.0 + 30.0 * np.sin(2 * np.pi * 5.0 * t)
    m, fs = load_montage(eeg, ch_names=["Fp1", "F7"], sfreq=fs_in)
    assert fs == 200.0 and m.names == ("Fp1-F7",)
    np.testing.assert_allclose(m.data, resample(eeg[:1] - eeg[1:], fs_in, 200.0), atol=1e-4)
    assert m.data.shape[1] == int(np.ceil(t.size * 200 / fs_in))


@pytest.mark.parametrize("fs_in", [173.61, 200.0, 256.0])
def test_iter_montage_blocks_equal_the_whole_recording(fs_in, tmp_path):
    n = int(round(430 * fs_in))
    x = np.random.default_rng(0).normal(0, 30, (20, n)) + 100.0
    raw = _raw(x, EEG_COLUMNS, sfreq=fs_in)
    path = tmp_path / "long_raw.fif"
    raw.save(path, verbose="error")
    whole, _ = load_montage(raw)
    starts = []
    for start, m in iter_montage(path, block_s=100.0, overlap_s=40.0):
        i = int(round(start * 200))
        expected = whole.data[:, i:i + 140 * 200]
        assert m.data.shape == expected.shape and m.names == BIPOLAR_NAMES
        np.testing.assert_allclose(m.data, expected, rtol=0, atol=2e-3)
        starts.append(start)
    assert starts == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert sum(m.data.shape[1] for _, m in iter_montage(raw, block_s=100.0, overlap_s=0.0)) \
        == whole.data.shape[1]


def test_iter_montage_errors(tmp_path):
    raw = _raw(np.zeros((20, 17361)), EEG_COLUMNS, sfreq=173.61)
    with pytest.raises(ValueError, match="not a multiple of 100 s"):
        next(iter_montage(raw, block_s=60.0))
    with pytest.raises(HMSError, match="gone.edf: file not found"):
        next(iter_montage(tmp_path / "gone.edf"))

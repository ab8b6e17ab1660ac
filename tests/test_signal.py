"""Preprocessing: NaN repair, dead channels, MNE-equivalent filtering, clipping; spectrograms."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from hms_features.signal import (
    EEG_COLUMNS,
    FS,
    SPEC_COLUMNS,
    SPEC_FMAX,
    SPEC_FREQS,
    SPEC_NFFT,
    bipolar,
    eeg_to_spectrogram,
    filter_eeg,
    log_power,
    preprocess,
    repair_nan,
    segment_spectra,
    welch_grid,
    welch_psd,
    window_quality,
)

IIR = dict(order=4, ftype="butter", output="sos")


def _eeg(n=2, seconds=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, len(EEG_COLUMNS), int(seconds * FS))) * 30).astype(np.float32)


def test_bandpass_equals_mne_filter_data():
    x = _eeg(2, 12).astype(np.float64)
    ours = filter_eeg(x, FS, 0.5, 40.0, notch=None)
    ref = mne.filter.filter_data(x, FS, 0.5, 40.0, method="iir", iir_params=dict(IIR),
                                 verbose=False)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_notch_equals_mne_notch_filter():
    x = _eeg(1, 12).astype(np.float64)
    ours = filter_eeg(x, FS, None, None, notch=60.0)
    ref = mne.filter.notch_filter(x, FS, 60.0, method="iir", iir_params=dict(IIR), verbose=False)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("n", [2, 3, 460, 600, 2000, 10_000, 130_000])
@pytest.mark.parametrize("l_freq, fft_max", [(0.5, None), (0.05, None), (0.05, 2**30)])
def test_filter_equals_scipy_sosfiltfilt(n, l_freq, fft_max, monkeypatch):
    # filter_eeg computes each stage's sosfiltfilt in the frequency domain with end corrections
    # (signal._zero_phase) up to FFT_FILTER_MAX samples, with scipy's passes beyond: it must give
    # scipy's sosfiltfilt of the same design, stage by stage, to float64 rounding, also when the
    # signal is shorter than the padding or the impulse response, across row blocks, on a long
    # scan block, and for a narrow band whose impulse response rings for minutes (0.05 Hz
    # high-pass: 51,604 samples; on a scan block forced through the frequency domain)
    from scipy import signal as sps

    from hms_features import signal as sig

    if fft_max is not None:
        monkeypatch.setattr(sig, "FFT_FILTER_MAX", fft_max)
    rows = 60 if n <= 10_000 else 2  # 60 rows: several blocks
    x = np.random.default_rng(n).normal(0, 40, size=(rows, n)).cumsum(axis=-1)  # drifting
    ref = x
    for sos, padlen in sig.filter_design(FS, l_freq, 40.0, 60.0, 4):
        ref = sps.sosfiltfilt(sos, ref, axis=-1, padtype="odd", padlen=min(padlen, n - 1))
    ours = filter_eeg(x, FS, l_freq, 40.0, 60.0)
    fft = all(sig._fft_length(n, min(p, n - 1), sos) <= sig.FFT_FILTER_MAX
              for sos, p in sig.filter_design(FS, l_freq, 40.0, 60.0, 4))
    if not fft:  # scipy's own passes: the same values to the bit
        np.testing.assert_array_equal(ours, ref)
    # rounding relative to the input's size: scipy's own error against an 80-bit reference was
    # 2.6e-14 (0.5 Hz) and 1.2e-12 (0.05 Hz) of max |x| on 2,000 samples, the frequency domain's
    # 1.2e-13 and 1.0e-10 (a high-pass that narrow puts the poles next to the unit circle)
    tol = 1e-12 if l_freq == 0.5 else 1e-9
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol * np.abs(x).max())
    # either way far below the float32 resolution of the output the library hands on
    assert np.abs(ours - ref).max() < 2.0**-24 * np.abs(ref).max() / 10
    # 50 s windows take the frequency domain, scan blocks scipy's passes
    assert fft == (n <= 10_000 or fft_max is not None)


def test_filter_with_a_very_long_impulse_response_takes_scipys_passes():
    # a 0.001 Hz high-pass rings for over an hour: its FFT could never be short enough, so the
    # window is filtered by scipy's passes (to the bit), and the frequency domain's matrices (a
    # loop over the impulse response) are never built for it
    from scipy import signal as sps

    from hms_features import signal as sig

    x = np.random.default_rng(1).normal(0, 40, size=(3, 10_000))
    [(band, padlen)] = sig.filter_design(FS, 0.001, 40.0, None, 4)
    ref = sps.sosfiltfilt(band, x, axis=-1, padtype="odd", padlen=padlen)
    before = sig._impulse.cache_info()
    np.testing.assert_array_equal(filter_eeg(x, FS, 0.001, 40.0, None), ref)
    assert sig._impulse_response(sig._sos_key(band)).size == 2 * sig.FFT_FILTER_MAX
    after = sig._impulse.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


def test_full_cascade_equals_mne_in_sequence_and_removes_line_noise():
    t = np.arange(int(20 * FS)) / FS
    x = (50 * np.sin(2 * np.pi * 10 * t) + 40 * np.sin(2 * np.pi * 60 * t)
         + 30 * np.sin(2 * np.pi * 0.1 * t))[None]
    ours = filter_eeg(x, FS)
    ref = mne.filter.filter_data(x, FS, 0.5, 40.0, method="iir", iir_params=dict(IIR),
                                 verbose=False)
    ref = mne.filter.notch_filter(ref, FS, 60.0, method="iir", iir_params=dict(IIR),
                                  verbose=False)
    np.testing.assert_allclose(ours, ref, atol=1e-9 * np.abs(ref).max())
    mid = slice(int(5 * FS), int(15 * FS))
    # the 10 Hz tone survives, the 60 Hz and 0.1 Hz components are gone
    np.testing.assert_allclose(ours[0, mid], 50 * np.sin(2 * np.pi * 10 * t[mid]), atol=2.0)


def test_repair_interpolates_short_gaps_linearly_and_zeros_long_ones():
    x = np.tile(np.arange(1000, dtype=np.float32), (1, 3, 1))
    x[0, 0, 100:150] = np.nan  # 0.25 s: interpolated exactly (the signal is a line)
    x[0, 1, 100:500] = np.nan  # 2 s: longer than max_gap_s=1 -> zeros
    x[0, 2, :30] = np.nan  # leading gap: held at the first valid value
    clean, frac, bad = repair_nan(x, FS, max_gap_s=1.0)
    np.testing.assert_allclose(clean[0, 0], np.arange(1000))
    assert (clean[0, 1, 100:500] == 0).all() and clean[0, 1, 99] == 99
    assert (clean[0, 2, :30] == 30).all()
    np.testing.assert_allclose(frac[0], [50 / 1000, 400 / 1000, 30 / 1000])
    assert not bad.any()


def test_dead_channels_become_zero_and_are_counted():
    x = _eeg(2, 10)
    x[0, 3] = np.nan
    x[1, 7] = 12.5  # flat
    ro = x.copy()
    ro.setflags(write=False)
    clean, q = preprocess(ro, FS)
    assert np.isnan(ro[0, 3]).all()  # input untouched
    assert (clean[0, 3] == 0).all() and (clean[1, 7] == 0).all()
    np.testing.assert_array_equal(q["bad_channels"], [1, 1])
    np.testing.assert_allclose(q["nan_fraction"], [1 / 19, 0])
    assert clean.dtype == np.float32 and np.isfinite(clean).all()


def test_clipping_bounds_amplitude_and_reports_fraction():
    x = _eeg(1, 10)
    x[0, 0, 500:520] = 1e6
    clean, q = preprocess(x, FS, clip_uv=1024.0)
    assert np.abs(clean).max() <= 1024.0
    assert 0 < q["clipped_fraction"][0] <= 1 / 19  # only channel 0 (filter ringing spreads it)
    unclipped, q2 = preprocess(x, FS, clip_uv=None)
    assert np.abs(unclipped).max() > 1024.0 and q2["clipped_fraction"][0] == 0


def test_window_quality_counts_nan_constant_and_clipped_scalp_samples_by_hand():
    # hand-made windows with known answers; the EKG (channel 19) never counts
    raw = np.ones((2, 20, 100), np.float32)
    raw[0, 2, :10] = np.nan  # 10 NaN samples
    raw[0, 19, :] = np.nan  # EKG: ignored
    raw[1, :, 50] = np.nan  # one sample on every channel: 19 scalp NaN
    clean = np.tile(np.linspace(-2000.0, 2000.0, 100, dtype=np.float32), (2, 20, 1))
    clean[0, 4] = 0.0  # constant (zeroed) channels
    clean[0, 5] = 7.0
    clean[1, 19] = 0.0  # a constant EKG is not a bad scalp channel
    clean[1, 6, :99] = 3.0  # constant but for the last sample: not constant
    q = window_quality(raw, clean, 1024.0)
    np.testing.assert_array_equal(q["nan_fraction"], [10 / 1900, 19 / 1900])
    np.testing.assert_array_equal(q["bad_channels"], [2.0, 0.0])
    # |x| >= 1024 on a ramp from -2000 to 2000 in 100 steps: 24 samples at each end
    n_clip = int((np.abs(clean[0, 0]) >= 1024.0).sum())
    # a -2000..2000 ramp of 100 samples steps 4000/99 µV: |x| >= 1024 for i <= 24 at each end
    assert n_clip == 2 * 25
    np.testing.assert_array_equal(q["clipped_fraction"], [17 * 50 / 1900, (18 * 50 + 1) / 1900])
    assert (window_quality(raw, clean, None)["clipped_fraction"] == 0).all()


@pytest.mark.parametrize("fs", [200.0, 173.61, 100.0])
def test_welch_grid_segments_are_those_of_the_stretchs_own_welch(fs):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(int(60 * fs))
    nperseg = int(round(2.0 * fs))
    freqs, spectra = segment_spectra(x, fs)  # the grid: every half segment from sample 0
    hop = nperseg - nperseg // 2  # scipy's noverlap = nperseg // 2
    for first, length in [(0, 2000), (3 * hop, int(10 * fs)), (7 * hop, nperseg),
                          (5 * hop, int(9.3 * fs))]:
        on, k0, n_seg, h = welch_grid(first, length, fs)
        assert on and h == hop
        ref = sps.welch(x[first:first + length], fs, nperseg=nperseg, detrend=False)[1]
        np.testing.assert_allclose(spectra[k0:k0 + n_seg].mean(axis=0), ref, rtol=1e-10)
    on, _, _, _ = welch_grid(np.array([hop + 1, 2 * hop, 0]), nperseg - 1, fs)
    assert not on.any()  # shorter than a segment: never on the grid
    on, k0, _, _ = welch_grid(np.array([hop + 1, 2 * hop]), 4 * nperseg, fs)
    assert on.tolist() == [False, True] and k0[1] == 2
    # the default segments are scipy's at odd nperseg too (347 samples at 173.61 Hz: step 174)
    np.testing.assert_allclose(welch_psd(x, fs)[1],
                               sps.welch(x, fs, nperseg=nperseg, detrend=False)[1], rtol=1e-10)


def test_preprocess_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="20 channels"):
        preprocess(np.zeros((1, 19, 2000), np.float32))


@settings(max_examples=15, deadline=None)
@given(
    scale=st.sampled_from([0.0, 1e-3, 1.0, 1e4, 1e8]),
    nan_channels=st.integers(0, 20),
    nan_run=st.integers(0, 2000),
    seed=st.integers(0, 1000),
)
def test_preprocess_output_always_finite(scale, nan_channels, nan_run, seed):
    x = _eeg(1, 10, seed) * np.float32(scale)
    x[0, :nan_channels] = np.nan
    x[0, :, 100:100 + nan_run] = np.nan
    clean, q = preprocess(x, FS)
    assert np.isfinite(clean).all()
    assert all(np.isfinite(v).all() for v in q.values())


def test_preprocess_in_blocks_equals_each_window_alone(monkeypatch):
    # preprocess cleans a batch in blocks of whole windows (PREPROCESS_BLOCK_VALUES): 3 windows a
    # block here, so 8 windows make blocks of 3, 3 and 2; every window, and its quality
    # indicators, must be exactly what it gives alone, whatever block it falls in
    import hms_features.signal as S

    x = _eeg(8, 10, 3) * np.float32(40)
    x[1, 4, 300:700] = np.nan  # a repaired gap
    x[4, 7] = np.nan  # a dead channel
    x[6, 2, 1000:1100] = 5000.0  # clipped
    monkeypatch.setattr(S, "PREPROCESS_BLOCK_VALUES", 3 * x[0].size)
    clean, q = S.preprocess(x, FS)
    alone = [S.preprocess(w, FS) for w in x]
    np.testing.assert_array_equal(clean, np.concatenate([c for c, _ in alone]))
    for k in q:
        np.testing.assert_array_equal(q[k], np.concatenate([qa[k] for _, qa in alone]))
    assert q["nan_fraction"][1] > 0 and q["bad_channels"][4] == 1 and q["clipped_fraction"][6] > 0


def test_eeg_to_spectrogram_puts_a_rhythm_in_its_chain_and_bin():
    # a 10 Hz rhythm on T3 only shows in the LL chain (Fp1-F7-T3-T5-O1), at bin (10 / 0.195) - 3
    n = 4000
    eeg = np.zeros((n, len(EEG_COLUMNS)), np.float32)
    eeg[:, EEG_COLUMNS.index("T3")] = 50 * np.sin(2 * np.pi * 10.0 * np.arange(n) / FS)
    eeg[3000:3005, EEG_COLUMNS.index("O2")] = np.nan
    out = eeg_to_spectrogram(eeg, np.array([600, 2000, 3400]))
    assert out.shape == (3, 400) and out.dtype == np.float32
    ll = out[:2, :100]
    assert (ll.argmax(axis=1) == round(10.0 * 1024 / FS) - 3).all()
    assert np.abs(out[:2, 100:]).max() == 0  # RL, LP, RP
    assert np.isnan(out[2, 100:200]).all() and np.isnan(out[2, 300:]).all()  # O2: RL and RP
    assert np.isfinite(out[2, :100]).all() and np.isfinite(out[2, 200:300]).all()


# ------------------------------------------------------------------ the one spectral engine

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nperseg,noverlap", [(400, 200), (256, 64), (101, 50), (500, 0)])
def test_segment_spectra_are_the_segments_scipy_welch_averages(dtype, nperseg, noverlap):
    x = np.random.default_rng(1).standard_normal((3, 2, 2345)).astype(dtype) * 20
    f, p = segment_spectra(x, FS, nperseg / FS, (nperseg - noverlap) / FS)
    f2, p2 = sps.welch(x.astype(np.float64), FS, window="hann", nperseg=nperseg,
                       noverlap=noverlap, detrend=False)
    assert p.dtype == dtype and p.shape[:2] == (3, 2)
    np.testing.assert_allclose(f, f2)
    np.testing.assert_allclose(p.mean(axis=-2), p2, rtol=2e-4 if dtype == np.float32 else 1e-10)


def test_segment_spectra_explicit_starts_band_limits_and_complex_output():
    x = np.random.default_rng(2).standard_normal(3000)
    starts = np.array([0, 700, 2600])
    f, p = segment_spectra(x, FS, 2.0, starts=starts, fmin=4.0, fmax=13.0)
    assert f[0] == 4.0 and f[-1] == 13.0
    for j, s0 in enumerate(starts):  # one segment is a periodogram of that stretch
        fr, ref = sps.periodogram(x[s0:s0 + 400], FS, window="hann", detrend=False)
        np.testing.assert_allclose(p[j], ref[(fr >= 4.0) & (fr <= 13.0)], rtol=1e-10)
    # complex output: scipy's STFT of the same segments, up to its 1 / sum(w) scaling
    _, spec = segment_spectra(x, FS, 2.0, scaling=None)
    win = sps.get_window("hann", 400)
    _, _, z = sps.stft(x, FS, window=win, nperseg=400, noverlap=200, boundary=None,
                       padded=False, detrend=False)
    np.testing.assert_allclose(spec, z.T * win.sum(), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="run outside"):
        segment_spectra(x, FS, 2.0, starts=[2700])


def test_segment_spectra_detrend_and_symmetric_window():
    x = np.random.default_rng(3).standard_normal(1024) + 50.0
    _, spec = segment_spectra(x, FS, 1024 / FS, detrend=True, periodic=False, scaling=None)
    ref = np.fft.rfft((x - x.mean()) * np.hanning(1024))
    np.testing.assert_allclose(spec[0], ref, rtol=1e-9, atol=1e-9)


def test_log_power_conventions():
    p = np.array([0.0, 1.0, 1e4], np.float32)
    out = log_power(p)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.log10(p + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(log_power(p, eps=1.0, base=np.e), np.log1p(p), rtol=1e-6)
    np.testing.assert_allclose(log_power(p, eps=1e-3, base=2.0), np.log2(p + 1e-3), rtol=1e-6)
    assert np.isnan(log_power(np.array([np.nan]))).all()


def test_eeg_to_spectrogram_equals_the_direct_hann_magnitude_formula():
    eeg = np.random.default_rng(4).standard_normal((5000, len(EEG_COLUMNS))) * 30
    centres = np.array([512, 2000, 5000 - 512])
    out = eeg_to_spectrogram(eeg, centres)
    b = bipolar(eeg.T)
    frames = np.stack([b[:, c - 512:c + 512] for c in centres], axis=1)
    frames = frames - frames.mean(axis=-1, keepdims=True)
    mag = np.abs(np.fft.rfft(frames * np.hanning(SPEC_NFFT), axis=-1))[..., 3:103]
    ll = mag[:4].mean(axis=0)  # LL are the first 4 derivations
    ratio = out[:, :100] / ll
    assert np.allclose(ratio, ratio[0], rtol=1e-5)  # one gain per bin, same for every row


def test_spectrogram_layout_is_one_table():
    assert len(SPEC_COLUMNS) == 4 * len(SPEC_FREQS) == 400
    assert SPEC_COLUMNS[0] == "LL_0.59" and SPEC_COLUMNS[-1] == "RP_19.92"
    assert SPEC_FREQS[-1] < SPEC_FMAX < SPEC_FREQS[-1] + FS / SPEC_NFFT


def test_segment_spectra_average_is_the_mean_of_runs_of_segments():
    x = np.random.default_rng(5).standard_normal((2, 4000)).astype(np.float32)
    starts = np.concatenate([np.arange(4) * 200, 2000 + np.arange(4) * 200])  # 2 runs of 4
    f, each = segment_spectra(x, FS, 2.0, starts=starts)
    _, mean = segment_spectra(x, FS, 2.0, starts=starts, average=4)
    assert mean.shape == (2, 2, len(f))
    np.testing.assert_allclose(mean, each.reshape(2, 2, 4, -1).mean(axis=-2), rtol=1e-5)
    with pytest.raises(ValueError, match="average=3"):
        segment_spectra(x, FS, 2.0, starts=starts, average=3)


def _repair_reference(x, fs, max_gap_s):
    """repair_nan's gap rule, one row and one gap at a time: np.interp between the valid
    neighbours, held at the nearest valid value at the ends, 0 beyond max_gap_s; 0 with no
    valid sample."""
    out = np.array(x, np.float64)
    for row in out.reshape(-1, out.shape[-1]):
        nan = np.isnan(row)
        valid = np.flatnonzero(~nan)
        if not len(valid):
            row[:] = 0.0
            continue
        filled = np.interp(np.arange(len(row)), valid, row[valid])  # holds at both ends
        edges = np.diff(np.r_[0, nan.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            row[a:b] = filled[a:b] if b - a <= max_gap_s * fs else 0.0
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), max_gap_s=st.sampled_from([0.05, 0.5, 1.0, 100.0]))
def test_repair_nan_matches_a_gap_by_gap_reference(seed, max_gap_s):
    # random gaps of every kind: interior, touching either end, whole rows, runs of one sample
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3, 6, 400)) * 50).astype(np.float32)
    for _ in range(rng.integers(0, 25)):
        w, c = rng.integers(3), rng.integers(6)
        a = rng.integers(0, 400)
        x[w, c, a:a + rng.integers(1, 150)] = np.nan
    if seed % 3 == 0:
        x[0, 5] = np.nan  # a row with no valid sample
    longest = int(max_gap_s * 100)  # interior gaps of exactly the limit and one sample more
    x[1, 2, 50:50 + longest] = np.nan
    x[2, 3, 150:151 + longest] = np.nan
    clean, frac, bad = repair_nan(x, 100.0, max_gap_s=max_gap_s, flat_uv=0.0)
    ref = _repair_reference(x, 100.0, max_gap_s)
    np.testing.assert_allclose(clean, ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(frac, np.isnan(x).mean(axis=-1))
    np.testing.assert_array_equal(bad, np.isnan(x).all(axis=-1))

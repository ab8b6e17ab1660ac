"""Pattern-specific feature families: periodicity, spatial, evolution, spectrogram, EKG.

Every check compares against an independent reference (scipy, numpy written the obvious way,
or a known answer of a synthetic signal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from hms_features.data import SPEC_COLUMNS, SPEC_FREQS
from hms_features.features import ekg, evolution, periodicity, spatial, spectrogram
from hms_features.features.base import FAMILIES, FeatureContext, welch_psd
from hms_features.signal import BIPOLAR_NAMES, EEG_COLUMNS, bipolar

FS = 200.0
N = 10_000
T = np.arange(N) / FS
EEG_FAMILIES = (periodicity, spatial, evolution, ekg)
CH = {name: i for i, name in enumerate(EEG_COLUMNS)}


def noise_eeg(n=1, scale=5.0, seed=0, n_samples=N):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 20, n_samples)) * scale).astype(np.float32)


def run(module, eeg, span="50s", **kw):
    out = module.compute(FeatureContext(eeg, fs=FS, span=span, **kw))
    for name, v in out.items():
        assert v.shape == (eeg.shape[0],), name
        assert np.isfinite(v).all(), name
    return out


def add(eeg, electrodes, wave):
    eeg = eeg.copy()
    for e in electrodes:
        eeg[:, CH[e]] += wave.astype(np.float32)
    return eeg


# Alternate electrodes of the left (right) chains, so that every derivation of the chain sees it.
LEFT = ("Fp1", "T3", "O1", "C3")
RIGHT = ("Fp2", "T4", "O2", "C4")


# --------------------------------------------------------------------------- periodicity
def test_band_envelope_matches_scipy_hilbert():
    # AM 10 Hz carrier, all components on the FFT grid and inside 1-20 Hz.
    x = (1 + 0.5 * np.cos(2 * np.pi * 0.5 * T)) * np.sin(2 * np.pi * 10 * T) * 40
    env = periodicity.band_envelope(x[None], FS)[0]
    ref = np.abs(sps.hilbert(x))[::5]  # |analytic signal| at 40 Hz
    ref = ref.reshape(-1, 2).mean(axis=1)  # the documented pair average -> 20 Hz
    assert env.shape == ref.shape == (1000,)
    np.testing.assert_allclose(env, ref, rtol=1e-3, atol=1e-3)


def test_autocorrelation_matches_direct_sum():
    x = np.random.default_rng(1).standard_normal((3, 300))
    r = periodicity.autocorrelation(x, 40)
    xc = x - x.mean(axis=1, keepdims=True)
    c = np.array([[np.dot(row[: 300 - k], row[k:]) / (300 - k) for k in range(41)] for row in xc])
    np.testing.assert_allclose(r, c / c[:, :1], atol=1e-10)
    assert np.all(periodicity.autocorrelation(np.ones((2, 50)), 5)[:, 1:] == 0)


@pytest.mark.parametrize("period", [1.0, 0.5, 2.5])
def test_spike_train_gives_acf_peak_at_its_period(period):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(N) * 5
    start = np.arange(0, N - 40, int(period * FS))
    spike = 150 * sps.windows.triang(9) - 60 * np.roll(sps.windows.triang(9), 4)
    for s in start:
        x[s:s + 9] += spike
    env = periodicity.band_envelope(x[None], FS)
    acf = periodicity.autocorrelation(env, 81)
    height, per, prom = periodicity.acf_peak(acf, periodicity.ENVELOPE_FS)
    assert abs(per[0] - period) <= 0.05
    assert height[0] > 0.5 and prom[0] > 0.5
    # the same noise without spikes has no strong periodicity
    env0 = periodicity.band_envelope(rng.standard_normal((1, N)), FS)
    h0, _, _ = periodicity.acf_peak(periodicity.autocorrelation(env0, 81), 20.0)
    assert h0[0] < 0.2


def test_acf_peak_rules_by_hand():
    lags = np.arange(12) / 10.0  # 10 Hz lag grid
    acf = np.array([
        [1, 0.2, -0.1, 0.5, 0.1, 0.0, 0.58, 0.1, 0.0, 0.3, 0.0, 0.0],  # first strong peak wins
        [1, 0.5, -0.2, -0.3, -0.055, -0.25, -0.35, -0.05, -0.4, -0.5, -0.6, -0.7],  # negative
        [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1],  # monotonic: fill
    ])
    h, period, prom = periodicity.acf_peak(acf, 10.0, lag_range=(0.2, 1.0))
    # row 0: peaks at 0.3 (0.5) and 0.6 (0.58 = highest); 0.5 >= 0.8 * 0.58 so 0.3 s is kept
    d = 0.5 * (-0.1 - 0.1) / (-0.1 - 2 * 0.5 + 0.1)  # parabolic refinement
    assert period[0] == pytest.approx(lags[3] + d / 10)
    assert h[0] == 0.5 and prom[0] == pytest.approx(0.5 - (-0.1))
    # row 1: the highest peak is negative (-0.05 at 0.7 s); -0.055 at 0.4 s is within 20 % of it
    assert period[1] == pytest.approx(0.4 + 0.5 * (-0.3 + 0.25) / (-0.3 + 0.11 - 0.25) / 10)
    assert h[1] == -0.055
    assert (h[2], period[2], prom[2]) == (0, 0, 0)


def test_delta_peak_finds_rhythmic_delta():
    rng = np.random.default_rng(3)
    f = np.fft.rfftfreq(N, 1 / FS)  # 1/f^2 background above 0.3 Hz, std 10 µV
    amp = np.where(f >= 0.3, 1 / np.maximum(f, 0.3), 0.0)
    noise = np.fft.irfft((rng.standard_normal((2, f.size)) + 1j * rng.standard_normal(
        (2, f.size))) * amp, n=N)
    noise *= 10 / noise.std(axis=1, keepdims=True)
    x = noise.copy()
    x[0] += 40 * np.sin(2 * np.pi * 2.0 * T)
    freqs, psd = welch_psd(x, FS)
    prom, freq, conc = periodicity.delta_peak(freqs, psd)
    assert freq[0] == 2.0 and prom[0] > 1.0 and conc[0] > 0.85
    assert prom[1] < 0.3 and conc[1] < 0.5
    # concentration by hand: the three bins around the peak over the band (0.5-4 Hz inclusive)
    band = (freqs >= 0.5) & (freqs <= 4.0)
    k = np.flatnonzero(freqs == 2.0)[0]
    assert conc[0] == pytest.approx(psd[0, k - 1:k + 2].sum() / psd[0, band].sum())
    flat = periodicity.delta_peak(freqs, np.zeros((1, len(freqs))))
    assert flat[0][0] == 0 and flat[1][0] == 0.5 and flat[2][0] == 0


def test_periodicity_family_on_periodic_discharges():
    eeg = noise_eeg(2)
    train = np.zeros(N)
    train[np.arange(0, N, 300)] = 1.0  # every 1.5 s
    train = np.convolve(train, 200 * sps.windows.hann(15), mode="same")
    eeg = add(eeg[:1], LEFT, train)
    eeg = np.concatenate([eeg, noise_eeg(1, seed=5)])
    out = run(periodicity, eeg)
    assert abs(out["periodicity_acfperiod_L_50s"][0] - 1.5) <= 0.05
    assert out["periodicity_acfpeak_L_50s"][0] > 0.5 > out["periodicity_acfpeak_R_50s"][0]
    assert out["periodicity_acfpeak_max_50s"][1] < 0.3
    assert len(out) == 8 * 6 + 1


# --------------------------------------------------------------------------- spatial
def test_left_only_delta_rhythm_is_left_asymmetric():
    wave = 60 * np.sin(2 * np.pi * 2.0 * T)
    eeg = np.concatenate([add(noise_eeg(1), LEFT, wave), add(noise_eeg(1, seed=1), RIGHT, wave)])
    out = run(spatial, eeg)
    for pair in ("LLRL", "LPRP", "LR", "maxpair"):
        assert out[f"spatial_asym_delta_{pair}_50s"][0] > 0.9
        assert out[f"spatial_asym_delta_{pair}_50s"][1] < -0.9
        assert out[f"spatial_absasym_delta_{pair}_50s"][1] > 0.9
    # the other bands see only noise: near symmetric
    assert abs(out["spatial_asym_alpha_LR_50s"][0]) < 0.1


def test_asymmetry_index_by_hand():
    ai = spatial.asymmetry_index(np.array([3.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(ai, [0.5, 0.0, 0.0])


def test_band_coherence_matches_scipy_at_odd_segment_length():
    # 173.61 Hz: 2 s segments of 347 samples, scipy's noverlap = 173, so a step of 174
    fs = 173.61
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3000))
    y = 0.7 * x + rng.standard_normal((2, 3000))
    kw = dict(fs=fs, window="hann", nperseg=347, detrend=False)
    f, sxy = sps.csd(x, y, **kw)
    _, sxx = sps.welch(x, **kw)
    _, syy = sps.welch(y, **kw)
    sel = (f >= 0.5) & (f < 4.0)
    ref = (np.abs(sxy[:, sel]) ** 2).sum(axis=1) / (sxx[:, sel] * syy[:, sel]).sum(axis=1)
    np.testing.assert_allclose(spatial.band_coherence(x, y, fs), ref, rtol=1e-5)


def test_band_coherence_matches_scipy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4000))
    y = x * np.array([[1.0], [0.5], [0.0]]) + rng.standard_normal((3, 4000))
    kw = dict(fs=FS, window="hann", nperseg=400, detrend=False)
    f, sxy = sps.csd(x, y, **kw)
    _, sxx = sps.welch(x, **kw)
    _, syy = sps.welch(y, **kw)
    sel = (f >= 0.5) & (f < 4.0)
    ref = (np.abs(sxy[:, sel]) ** 2).sum(axis=1) / (sxx[:, sel] * syy[:, sel]).sum(axis=1)
    np.testing.assert_allclose(spatial.band_coherence(x, y, FS), ref, rtol=1e-5)
    # a single-bin band is scipy's coherence at that bin
    _, coh = sps.coherence(x, y, **kw)
    np.testing.assert_allclose(spatial.band_coherence(x, y, FS, band=(2.0, 2.1)),
                               coh[:, f == 2.0][:, 0], rtol=1e-5)
    np.testing.assert_allclose(spatial.band_coherence(x, x, FS), 1.0, rtol=1e-6)
    assert spatial.band_coherence(x, np.zeros_like(x), FS).tolist() == [0.0] * 3


def test_generalised_rhythm_is_coherent_and_synchronous():
    wave = 60 * np.sin(2 * np.pi * 1.5 * T)
    eeg = add(noise_eeg(1), LEFT + RIGHT, wave)
    eeg = np.concatenate([eeg, noise_eeg(1, seed=9)])
    out = run(spatial, eeg)
    for pair in ("LLRL", "LPRP", "LR"):
        assert out[f"spatial_deltacoh_{pair}_50s"][0] > 0.95
        assert out[f"spatial_deltacorr_{pair}_50s"][0] > 0.95
        assert out[f"spatial_deltacoh_{pair}_50s"][1] < 0.3
        assert abs(out[f"spatial_asym_delta_{pair}_50s"][0]) < 0.05
    assert out["spatial_deltasync_all_50s"][0] > out["spatial_deltasync_all_50s"][1] + 0.4
    # broadband synchrony against numpy's corrcoef on the same derivations
    b = bipolar(eeg)
    for i in range(2):
        r = np.corrcoef(b[i])
        off = ~np.eye(18, dtype=bool)
        assert out["spatial_sync_all_50s"][i] == pytest.approx(np.abs(r[off]).mean(), rel=1e-4)
        homolog = [r[a, b_] for a, b_ in spatial.HOMOLOGOUS["LR"]]
        assert out["spatial_corr_LR_50s"][i] == pytest.approx(np.mean(homolog), abs=1e-4)
        top = np.linalg.eigvalsh(r)[-1] / 18
        assert out["spatial_synceig_all_50s"][i] == pytest.approx(top, rel=1e-4)


def test_delta_correlation_sign_and_phase():
    rng = np.random.default_rng(6)
    s = np.sin(2 * np.pi * 2.0 * T)
    q = np.cos(2 * np.pi * 2.0 * T)  # quarter period shift: coherent but uncorrelated
    x = np.stack([s, -s, q, s + 0.01 * rng.standard_normal(N)])[None].astype(np.float32)
    freqs, spec = spatial.segment_ffts(x, FS, fmax=4.0)
    sel = freqs >= 0.5
    csd = spatial.cross_spectral_matrix(spec[..., sel])
    corr = spatial.correlation_from_csd(csd.sum(axis=-1))[0]
    assert corr[0, 1] == pytest.approx(-1, abs=1e-6)
    assert abs(corr[0, 2]) < 0.01
    assert corr[0, 3] == pytest.approx(1, abs=1e-3)
    coh = spatial.coherence_from_csd(csd[0, 0, 2], csd[0, 0, 0], csd[0, 2, 2])
    assert coh == pytest.approx(1, abs=1e-6)  # a constant phase lag keeps full coherence


def test_anterior_posterior_gradient():
    wave = 60 * np.sin(2 * np.pi * 2.0 * T)
    front = run(spatial, add(noise_eeg(1), ("Fp1", "Fp2"), wave))
    back = run(spatial, add(noise_eeg(1), ("O1", "O2"), wave))
    assert front["spatial_apgrad_delta_all_50s"][0] > 1.0
    assert back["spatial_apgrad_delta_all_50s"][0] < -1.0
    # by hand from the Welch PSD of the derivations
    freqs, psd = welch_psd(bipolar(add(noise_eeg(1), ("Fp1", "Fp2"), wave)), FS)
    sel = (freqs >= 0.5) & (freqs < 4.0)
    p = psd[0][:, sel].sum(axis=1)
    ant = p[[BIPOLAR_NAMES.index(d) for d in ("Fp1-F7", "Fp1-F3", "Fp2-F4", "Fp2-F8")]].sum()
    post = p[[BIPOLAR_NAMES.index(d) for d in ("T5-O1", "P3-O1", "P4-O2", "T6-O2")]].sum()
    assert front["spatial_apgrad_delta_all_50s"][0] == pytest.approx(np.log10(ant / post),
                                                                     rel=1e-4)


# --------------------------------------------------------------------------- evolution
def test_trend_matches_polyfit():
    v = np.random.default_rng(7).standard_normal((4, 5))
    t = np.array([5.0, 15, 25, 35, 45])
    slope, rng = evolution.trend(v, t)
    np.testing.assert_allclose(slope, [np.polyfit(t, row, 1)[0] for row in v])
    np.testing.assert_allclose(rng, np.ptp(v, axis=1))


def test_chirp_evolves_and_stationary_rhythm_does_not():
    chirp = 50 * np.sin(2 * np.pi * (2.0 + 0.1 * T) * T)  # instantaneous 2 -> 12 Hz, 0.2 Hz/s
    steady = 50 * np.sin(2 * np.pi * 6.0 * T)
    ramp = 5 * np.exp(np.log(10) * T / 50) * np.sin(2 * np.pi * 6.0 * T)  # x10 amplitude
    eeg = np.concatenate([add(noise_eeg(1, 1.0, seed=s), LEFT + RIGHT, w)
                          for s, w in enumerate((chirp, steady, ramp))])
    out = run(evolution, eeg)
    dom = out["evolution_domfreq_slope_all_50s"]
    assert dom[0] == pytest.approx(0.2, abs=0.02)
    assert abs(dom[1]) < 1e-3 and abs(dom[2]) < 1e-3
    assert out["evolution_domfreq_range_all_50s"][1] == 0
    lp = out["evolution_logpower_slope_all_50s"]
    # amplitude x10 over 50 s: power x100, log10 power slope 2 / 50 per s (least squares on
    # sub-window means of an exponential is slightly less; sub-window log power is exact here)
    assert lp[2] == pytest.approx(2 / 50, rel=0.05)
    assert abs(lp[1]) < 2e-4
    assert out["evolution_logpower_range_all_50s"][1] < 0.01
    assert len(out) == 6 * 6 * 2


@pytest.mark.parametrize("n_samples, n_sub, fs", [(10_000, 5, 200.0), (3_003, 3, 100.0)])
def test_subwindow_psd_matches_scipy_welch(n_samples, n_sub, fs):
    x = noise_eeg(1, seed=12, n_samples=n_samples)[0, :3]
    x.flags.writeable = False
    freqs, psd = evolution.subwindow_psd(x, fs, n_sub)
    length = n_samples // n_sub
    for k in range(n_sub):
        f, ref = sps.welch(x[:, k * length:(k + 1) * length], fs=fs, window="hann",
                           nperseg=int(2 * fs), detrend=False)
        np.testing.assert_allclose(freqs, f)
        np.testing.assert_allclose(psd[:, k], ref, rtol=2e-4, atol=1e-6)
    f40, p40 = evolution.subwindow_psd(x, fs, n_sub, fmax=40.0)
    assert f40[-1] == 40.0
    np.testing.assert_array_equal(p40, psd[..., : len(f40)])


def test_subwindow_measures_match_scipy_welch():
    x = noise_eeg(1, seed=8)[:, :18]
    m = evolution.subwindow_measures(x, FS)
    sub = x[0, :4, 4000:6000]  # the LL derivations (0..3), third 10 s sub-window
    f, p = sps.welch(sub, fs=FS, window="hann", nperseg=400, detrend=False)
    pm = p.mean(axis=0)
    df = f[1] - f[0]
    tot = pm[(f >= 0.5) & (f < 40)].sum() * df
    assert m["logpower", "LL"][0, 2] == pytest.approx(np.log10(tot + 1e-6), rel=1e-5)
    delta = pm[(f >= 0.5) & (f < 4)].sum() * df
    assert m["reldelta", "LL"][0, 2] == pytest.approx(delta / tot, rel=1e-4)
    ll = np.abs(np.diff(sub, axis=-1)).mean(axis=-1).mean() * FS
    assert m["loglinelength", "LL"][0, 2] == pytest.approx(np.log10(ll + 1e-6), rel=1e-5)
    sel = (f >= 0.5) & (f < 20)
    assert m["domfreq", "LL"][0, 2] == f[sel][np.argmax(pm[sel])]
    with pytest.raises(ValueError, match="2 s"):
        evolution.subwindow_measures(x[:, :, :1000], FS)


def test_subwindow_measures_from_shared_segments_equal_scipy_welch():
    # the sub-window PSDs averaged from the whole window's segment spectra (FeatureContext
    # .segments) are scipy's Welch of each 10 s sub-window; a window off the 1 s grid falls back
    x = noise_eeg(2, seed=9)
    ctx = FeatureContext(x, fs=FS)
    f_ctx, seg = ctx.segments
    np.testing.assert_array_equal(ctx.psd[1], welch_psd(ctx.bipolar, FS)[1])
    freqs, psd = evolution._subwindow_psd(ctx.bipolar, FS, 5, ctx.segments)
    for k in range(5):
        f, ref = sps.welch(ctx.bipolar[:, :, k * 2000:(k + 1) * 2000].astype(np.float64), fs=FS,
                           window="hann", nperseg=400, detrend=False)
        np.testing.assert_allclose(freqs, f[: len(freqs)])
        np.testing.assert_allclose(psd[:, :, k], ref[..., : len(freqs)], rtol=2e-4, atol=1e-6)
    shared = evolution.subwindow_measures(ctx.bipolar, FS, segments=ctx.segments)
    direct = evolution.subwindow_measures(ctx.bipolar, FS)
    for key in direct:
        np.testing.assert_allclose(shared[key], direct[key], rtol=1e-5, atol=1e-6)
    odd = x[..., :9_900]  # 1,980-sample sub-windows: not on the 200-sample grid
    c2 = FeatureContext(odd, fs=FS)
    np.testing.assert_array_equal(evolution._subwindow_psd(c2.bipolar, FS, 5, c2.segments)[1],
                                  evolution.subwindow_psd(c2.bipolar, FS, 5, fmax=40.0)[1])


# --------------------------------------------------------------------------- spectrogram
def test_spectrogram_stats_by_hand_with_nan():
    rng = np.random.default_rng(10)
    spec = rng.random((2, 300, 400)).astype(np.float32) * 50
    spec[0, 148, 7] = np.nan  # inside the central 10 s
    spec[0, :, 9] = np.nan  # a fully missing column
    spec[1, 147:152, 11] = 1e6  # a burst exactly in the central 10 s (rows 147..151)
    out = spectrogram.spectrogram_features(spec)
    assert len(out) == 4 * 100 * 2 * 3 + 4 * 4 * 2 * 3 + 3
    assert spectrogram.central_rows(300, 10.0) == slice(147, 152)
    assert spectrogram.central_rows(300, 20.0) == slice(145, 155)
    for w, rows in (("600s", slice(0, 300)), ("20s", slice(145, 155)), ("10s", slice(147, 152))):
        ref = np.log1p(spec[:, rows].astype(np.float64))
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            mean, low = np.nanmean(ref, axis=1), np.nanmin(ref, axis=1)
        for col in (0, 7, 11, 250, 399):
            name = SPEC_COLUMNS[col]  # e.g. "LL_0.59" -> chain, bin
            chain, b = name.split("_")
            np.testing.assert_allclose(out[f"spectrogram_mean_{b}_{chain}_{w}"], mean[:, col],
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(out[f"spectrogram_min_{b}_{chain}_{w}"], low[:, col],
                                       rtol=1e-5, atol=1e-6)  # float32 log(1 + p), see module
        chain, b = SPEC_COLUMNS[9].split("_")
        assert out[f"spectrogram_mean_{b}_{chain}_{w}"][0] == 0  # documented fill
    # the burst shows in the 10 s window's minimum, and the 10 s window is exactly 5 rows
    chain, b = SPEC_COLUMNS[11].split("_")
    assert out[f"spectrogram_min_{b}_{chain}_10s"][1] == pytest.approx(np.log1p(1e6), rel=1e-6)
    assert out[f"spectrogram_min_{b}_{chain}_20s"][1] < 5
    # the NaN-free fast path gives the same numbers as the NaN-aware path
    alone = spectrogram.spectrogram_features(spec[1:])
    for name in list(out)[::37]:
        np.testing.assert_allclose(alone[name], out[name][1:], rtol=1e-6, atol=1e-7)
    nanfrac = 300 + 1
    assert out["spectrogram_nanfrac_all_600s"][0] == pytest.approx(nanfrac / 120_000)
    assert out["spectrogram_nanfrac_all_10s"][0] == pytest.approx(6 / 2000)


def test_spectrogram_band_aggregates_by_hand():
    rng = np.random.default_rng(11)
    spec = rng.random((1, 300, 400)).astype(np.float32) * 10
    spec[0, 150, 300] = np.nan  # RP chain, first bin (delta)
    out = spectrogram.spectrogram_features(spec)
    freqs = np.asarray(SPEC_FREQS)
    sel = (freqs >= 0.5) & (freqs < 4.0)
    chain_cols = 300 + np.flatnonzero(sel)  # RP is the 4th chain in the file
    rows = spec[0, 145:155][:, chain_cols].astype(np.float64)
    per_row = np.log1p(np.nanmean(rows, axis=1))
    assert out["spectrogram_mean_delta_RP_20s"][0] == pytest.approx(per_row.mean(), rel=1e-5)
    assert out["spectrogram_min_delta_RP_20s"][0] == pytest.approx(per_row.min(), rel=1e-5)
    sel_b = (freqs >= 13) & (freqs < 20)
    rows = spec[0][:, np.flatnonzero(sel_b)].astype(np.float64)  # LL
    assert out["spectrogram_mean_beta_LL_600s"][0] == pytest.approx(
        np.log1p(rows.mean(axis=1)).mean(), rel=1e-5)


def test_spectrogram_extreme_values_stay_finite():
    spec = np.full((2, 300, 400), 3e38, np.float32)
    spec[0, :, :7] = np.inf
    spec[1, 100:200] = np.nan
    spec[1, :, 50] = -5.0  # negative power counts as 0
    with np.errstate(all="raise"):
        out = spectrogram.spectrogram_features(spec)
    assert all(np.isfinite(v).all() for v in out.values())
    top = np.log(np.float64(np.finfo(np.float32).max))
    assert out["spectrogram_mean_0.59_LL_600s"][0] == pytest.approx(top, rel=1e-5)
    chain, b = SPEC_COLUMNS[50].split("_")
    assert out[f"spectrogram_mean_{b}_{chain}_600s"][1] == 0


def test_spectrogram_family_without_spectrogram_is_empty():
    assert spectrogram.compute(FeatureContext(noise_eeg(1, n_samples=400))) == {}
    fam = FAMILIES["spectrogram"]
    assert fam.spans == () and fam.needs_spectrogram
    with pytest.raises(ValueError, match="400"):
        spectrogram.spectrogram_features(np.zeros((1, 300, 10)))


# --------------------------------------------------------------------------- EKG
def synthetic_ecg(beats, noise=10.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(N) * noise
    for b in beats:
        x += 1000 * np.exp(-0.5 * ((T - b) / 0.01) ** 2)  # R
        x -= 150 * np.exp(-0.5 * ((T - b - 0.03) / 0.01) ** 2)  # S
        x += 200 * np.exp(-0.5 * ((T - b - 0.25) / 0.05) ** 2)  # T wave
    return x


@pytest.mark.parametrize("bpm", [48, 72, 130])
def test_heart_rate_of_synthetic_ecg(bpm):
    beats = np.arange(0.4, 49.6, 60.0 / bpm)
    for sign in (1, -1):  # lead polarity must not matter
        peaks = ekg.detect_r_peaks(sign * synthetic_ecg(beats)[None], FS)
        assert peaks.sum() == len(beats)
        stats = ekg.heart_rate_stats(peaks, FS)
        assert stats["hr"][0] == pytest.approx(bpm, abs=0.5)
        assert stats["valid"][0] == 1 and stats["rrregular"][0] == 1


def test_hrv_of_alternating_rr():
    rr = np.where(np.arange(70) % 2 == 0, 0.8, 0.9)
    beats = 0.3 + np.concatenate([[0.0], np.cumsum(rr)])
    beats = beats[beats < 49.7]
    stats = ekg.heart_rate_stats(ekg.detect_r_peaks(synthetic_ecg(beats, 20.0)[None], FS), FS)
    true_rr = np.diff(beats)
    assert stats["hr"][0] == pytest.approx(60 / np.median(true_rr), rel=1e-3)
    assert stats["sdnn"][0] == pytest.approx(np.std(true_rr, ddof=1) * 1e3, rel=1e-3)
    assert stats["rmssd"][0] == pytest.approx(np.sqrt(np.mean(np.diff(true_rr) ** 2)) * 1e3,
                                              rel=1e-3)


def test_flat_or_noise_ekg_is_flagged_invalid():
    eeg = noise_eeg(3)
    eeg[0, -1] = 0.0
    eeg[1, -1] = 7.0
    out = run(ekg, eeg)  # window 2: white noise EKG
    for i in range(3):
        assert out["ekg_valid_all_50s"][i] == 0
        assert out["ekg_hr_all_50s"][i] == 0 and out["ekg_sdnn_all_50s"][i] == 0
    assert out["ekg_leakcorr_max_50s"][0] == 0 and out["ekg_leakratio_max_50s"][0] == 1


def test_qrs_leakage():
    ecg = synthetic_ecg(np.arange(0.4, 49.6, 0.75)).astype(np.float32)
    clean = noise_eeg(1, 20.0)
    clean[0, -1] = ecg
    leaky = clean.copy()
    leaky[0, CH["T3"]] += 0.2 * ecg  # leaks into F7-T3 and T3-T5
    out = run(ekg, np.concatenate([clean, leaky]))
    b = bipolar(leaky)[0]
    ref = max(abs(np.corrcoef(b[i], ecg)[0, 1]) for i in range(18))
    assert out["ekg_leakcorr_max_50s"][1] == pytest.approx(ref, rel=1e-4)
    assert out["ekg_leakcorr_max_50s"][0] < 0.1 < out["ekg_leakcorr_max_50s"][1]
    assert out["ekg_leakratio_max_50s"][1] > 1.5 > out["ekg_leakratio_max_50s"][0]
    assert out["ekg_hr_all_50s"][0] == pytest.approx(80, abs=0.5)


# --------------------------------------------------------------------------- all families
@settings(max_examples=12, deadline=None)
@given(
    scale=st.sampled_from([0.0, 1e-3, 1.0, 50.0, 1e5, 1e15]),  # preprocess clips to <= 1e15
    flat=st.lists(st.integers(0, 19), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_no_nan_or_inf(scale, flat, seed):
    eeg = noise_eeg(2, scale, seed)
    eeg[:, flat] = 3.0
    eeg.flags.writeable = False  # read-only input must work
    for module in EEG_FAMILIES:
        run(module, eeg)
    for module in (periodicity, spatial):
        run(module, eeg[:, :, 4000:6000], span="10s")


def test_other_sampling_rate():
    fs = 128.0  # fs is a parameter everywhere: a 50 s window at 128 Hz, 1.5 s discharges
    t = np.arange(int(50 * fs)) / fs
    eeg = noise_eeg(1, n_samples=t.size)
    train = np.convolve((np.arange(t.size) % int(1.5 * fs) == 0).astype(float),
                        200 * sps.windows.hann(9), mode="same")
    eeg = add(eeg, LEFT, train)
    out = {}
    for module in EEG_FAMILIES:
        res = module.compute(FeatureContext(eeg, fs=fs))
        assert all(np.isfinite(v).all() for v in res.values())
        out.update(res)
    assert abs(out["periodicity_acfperiod_L_50s"][0] - 1.5) <= 0.06
    assert out["spatial_asym_delta_LR_50s"][0] > 0.5


def test_registration_and_names():
    for name, spans in (("periodicity", ("50s", "10s")), ("spatial", ("50s", "10s")),
                        ("evolution", ("50s",)), ("ekg", ("50s",))):
        assert FAMILIES[name].spans == spans
    out = run(spatial, noise_eeg(1, n_samples=2000), span="10s")
    assert all(k.startswith("spatial_") and k.endswith("_10s") for k in out)


def read_eeg(path, seconds=50):
    values = pd.read_parquet(path, columns=list(EEG_COLUMNS)).to_numpy(np.float32)
    start = (len(values) - int(seconds * FS)) // 2
    return np.ascontiguousarray(values[start:start + int(seconds * FS)].T[None])


def test_real_windows_are_finite(hms_mini):
    data = hms_mini
    for path in sorted(data.glob("*_eegs/*.parquet")):
        eeg = read_eeg(path)
        for module in EEG_FAMILIES:
            run(module, eeg)
        for module in (periodicity, spatial):
            run(module, eeg[:, :, 4000:6000], span="10s")
    sp = pd.read_parquet(data / "test_spectrograms" / "853520.parquet")
    assert list(sp.columns[1:]) == list(SPEC_COLUMNS)
    for path in sorted(data.glob("*_spectrograms/*.parquet")):
        values = pd.read_parquet(path, columns=list(SPEC_COLUMNS)).to_numpy(np.float32)[:300]
        out = run(spectrogram, read_eeg(data / "test_eegs" / "3911565283.parquet"),
                  spectrogram=values[None])
        assert len(out) == 2499
        assert 0 <= out["spectrogram_nanfrac_all_600s"][0] < 0.2


@pytest.mark.parametrize("shape", [(3, 18, 1003), (40, 1000), (997,)])
def test_boxcar_decimate_is_the_block_mean(shape):
    # q consecutive samples averaged, trailing samples dropped, whatever the leading axes
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32) * 30
    q = 5
    m = shape[-1] // q
    ref = x[..., :m * q].astype(np.float64).reshape(shape[:-1] + (m, q)).mean(axis=-1)
    out = spatial.boxcar_decimate(x, q)
    assert out.shape == shape[:-1] + (m,) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)

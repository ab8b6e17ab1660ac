"""Report pictures and the self-contained HTML page."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hms_features.data import HMSDataset  # noqa: E402
from hms_features.metrics import CLASSES, kl_report  # noqa: E402
from hms_features.report import (  # noqa: E402
    confusion_counts,
    fold_kl_reports,
    pick_example_windows,
    plot_confusion,
    plot_eeg_window,
    plot_importances,
    plot_kl_by_group,
    plot_reliability,
    reliability_bins,
    viewer_caption,
    viewer_traces,
    write_report,
)
from hms_features.report.figures import VIEWER_DPI  # noqa: E402
from hms_features.signal import BIPOLAR_NAMES as BIPOLAR_NAMES_  # noqa: E402
from hms_features.signal import EEG_COLUMNS, bipolar, preprocess  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_valid_png(data: bytes, min_side: int = 300) -> np.ndarray:
    """PNG signature, decodable by matplotlib, not tiny, not a blank canvas."""
    assert data[:8] == PNG_SIGNATURE
    img = mpimg.imread(io.BytesIO(data), format="png")
    assert img.ndim == 3 and min(img.shape[:2]) >= min_side
    assert img[..., :3].std() > 0.05  # something drawn, not a uniform image
    return img


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in ("meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"unbalanced </{tag}>"
        self.open.pop()


def _fake_cv(n=120, seed=0):
    rng = np.random.default_rng(seed)
    n_votes = rng.choice([3, 14], n)
    votes = np.array([rng.multinomial(k, rng.dirichlet(np.full(6, 0.4))) for k in n_votes])
    proba = 0.6 * votes / votes.sum(1, keepdims=True) + 0.4 * rng.dirichlet(np.ones(6), n)
    folds = np.arange(n) % 3
    reports = [kl_report(votes[folds == k], proba[folds == k]) for k in range(3)]
    return votes.astype(float), proba, reports


# ------------------------------------------------------------------ pure numbers
def test_reliability_bins_match_a_hand_computation():
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0, 0.5])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.5])
    mean_pred, mean_obs, count = reliability_bins(p, y, n_bins=10)
    np.testing.assert_array_equal(count, [1, 2, 0, 0, 0, 1, 0, 0, 0, 2])
    filled = count > 0
    np.testing.assert_allclose(mean_pred[filled], [0.05, 0.135, 0.5, 0.975])
    np.testing.assert_allclose(mean_obs[filled], [0.0, 0.5, 0.5, 1.0])
    assert np.isnan(mean_pred[~filled]).all() and np.isnan(mean_obs[~filled]).all()
    # two bins: [0, .5) and [.5, 1]
    mean_pred, mean_obs, count = reliability_bins(p, y, n_bins=2)
    np.testing.assert_array_equal(count, [3, 3])
    np.testing.assert_allclose(mean_pred, [0.32 / 3, 2.45 / 3])
    np.testing.assert_allclose(mean_obs, [1 / 3, 2.5 / 3])


def test_reliability_bins_rejects_bad_input():
    with pytest.raises(ValueError, match="p has 2 values but y has 3"):
        reliability_bins([0.1, 0.2], [0, 1, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_bins([0.1, 1.2], [0, 1])
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins([0.1], [0], n_bins=0)


def test_confusion_counts_by_argmax():
    eye = np.eye(6)
    y_true = eye[[0, 0, 1, 5, 5, 5]] * 3  # vote counts
    y_pred = eye[[0, 1, 1, 5, 0, 5]] * 0.9 + 0.1 / 6 * (1 - eye[[0, 1, 1, 5, 0, 5]])
    counts = confusion_counts(y_true, y_pred)
    expected = np.zeros((6, 6), int)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[5, 0] = 1
    expected[5, 5] = 2
    np.testing.assert_array_equal(counts, expected)


def test_viewer_traces_order_and_values():
    eeg = np.zeros((20, 50), np.float32)
    eeg[EEG_COLUMNS.index("Fp1")] = 10.0
    eeg[EEG_COLUMNS.index("T3"), :25] = 4.0
    names, chains, traces = viewer_traces(eeg, raw=True)
    assert names[:4] == ["Fp1-F7", "F7-T3", "T3-T5", "T5-O1"]
    assert names[4:8] == ["Fp1-F3", "F3-C3", "C3-P3", "P3-O1"]
    assert names[8] == "Fp2-F4" and names[12] == "Fp2-F8" and names[-2:] == ["Fz-Cz", "Cz-Pz"]
    assert chains == ["LL"] * 4 + ["LP"] * 4 + ["RP"] * 4 + ["RL"] * 4 + ["C"] * 2
    assert traces.shape == (18, 50)
    # F7-T3 is -4 then 0 µV: median (-2) removed -> -2 / +2; Fp1-F7 is a constant 10 -> 0
    np.testing.assert_allclose(traces[1], np.r_[np.full(25, -2.0), np.full(25, 2.0)])
    np.testing.assert_allclose(traces[0], 0.0)


def test_viewer_traces_are_filtered_as_the_features_see_them():
    fs = 200.0
    t = np.arange(int(20 * fs)) / fs
    rng = np.random.default_rng(1)
    eeg = rng.normal(scale=1.0, size=(20, t.size)).astype(np.float32)
    alpha = 20 * np.sin(2 * np.pi * 10 * t)  # 10 Hz, 20 µV: inside the 0.5-40 Hz pass band
    drift = 500 * np.sin(2 * np.pi * 0.05 * t) + 300  # slow drift + offset, removed
    eeg[EEG_COLUMNS.index("Fp1")] += (alpha + drift).astype(np.float32)
    eeg[EEG_COLUMNS.index("F7")] += (40 * np.sin(2 * np.pi * 60 * t)).astype(np.float32)  # mains
    names, _, traces = viewer_traces(eeg, fs)
    fp1_f7 = names.index("Fp1-F7")
    mid = slice(int(2 * fs), int(18 * fs))  # away from the filter's edges
    # the drift and the 60 Hz line are gone, the 10 Hz alpha stays: residual ~ the 1 µV noise
    resid = traces[fp1_f7, mid] - alpha[mid]
    assert np.std(resid) < 2.5 and np.std(traces[fp1_f7, mid]) > 13
    # the same numbers as the montage of the library's preprocessing (the features' input)
    clean, _ = preprocess(eeg, fs)
    order = [list(BIPOLAR_NAMES_).index(n) for n in names]
    np.testing.assert_allclose(traces, bipolar(clean[0])[order], atol=1e-4)
    raw = viewer_traces(eeg, fs, raw=True)[2]
    assert np.std(raw[fp1_f7, mid]) > 300  # the drift dominates the raw trace
    # a NaN gap stays a gap (preprocessing repaired it for the features)
    eeg[EEG_COLUMNS.index("T3"), 1000:1100] = np.nan
    traces = viewer_traces(eeg, fs)[2]
    assert np.isnan(traces[names.index("F7-T3"), 1000:1100]).all()
    assert np.isnan(traces[names.index("T3-T5"), 1000:1100]).all()
    assert np.isfinite(traces[names.index("F7-T3"), :1000]).all()
    # the caption states the filter settings actually used
    assert viewer_caption() == (
        "filtered as the features see them (hms_features.signal.preprocess): zero-phase "
        "Butterworth 0.5–40 Hz band-pass (order 4), 60 Hz notch, clipped at ±1024 µV")
    assert "1–30 Hz" in viewer_caption(preprocess_kwargs={"l_freq": 1, "h_freq": 30})
    assert "notch" not in viewer_caption(preprocess_kwargs={"notch": None})
    assert viewer_caption(raw=True).startswith("raw")


def test_fold_kl_reports_match_kl_report_per_fold():
    votes, proba, reports = _fake_cv(n=60)
    folds = np.arange(60) % 3
    got = fold_kl_reports(votes, proba, folds)
    assert len(got) == 3
    for a, b in zip(got, reports):
        assert a["kl"] == pytest.approx(b["kl"]) and a["n_few_votes"] == b["n_few_votes"]
    with pytest.raises(ValueError, match="folds 59"):
        fold_kl_reports(votes, proba, folds[:-1])


# ------------------------------------------------------------------ pictures
def test_single_plots_write_valid_pngs(tmp_path):
    votes, proba, reports = _fake_cv()
    many = votes.sum(axis=1) >= 10
    only_many = kl_report(votes[many], proba[many])  # its "<10 votes" group is empty (NaN)
    assert np.isnan(only_many["kl_few_votes"])
    assert_valid_png(plot_kl_by_group(reports + [only_many], tmp_path / "kl.png").read_bytes())
    assert_valid_png(plot_reliability(votes, proba, tmp_path / "rel.png", n_bins=5).read_bytes())
    assert_valid_png(plot_confusion(votes, proba, tmp_path / "c.png").read_bytes())
    names = [f"spectral_relpower_delta_LL_50s_{i}" for i in range(5)]
    img = assert_valid_png(plot_importances(names, [3, 1, 2, 5, 4], tmp_path / "imp.png",
                                            top=30).read_bytes(), min_side=150)
    assert img.shape[0] < 600  # 5 bars: the figure height follows the number shown
    with pytest.raises(ValueError, match="2 names but 3 importances"):
        plot_importances(["a", "b"], [1, 2, 3], tmp_path / "x.png")
    with pytest.raises(ValueError, match="fold_reports is empty"):
        plot_kl_by_group([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"y_pred: expected shape \(n_rows, 6\)"):
        plot_confusion(votes, proba[:, :5], tmp_path / "x.png")


def test_eeg_viewer_on_a_real_window(hms_mini, tmp_path):
    ds = HMSDataset(hms_mini)
    row = ds.labels.iloc[[4]]
    eeg = ds.eeg_windows(row)[0]
    spec = ds.spectrogram_windows(row)[0]
    proba = np.array([0.6, 0.1, 0.05, 0.05, 0.1, 0.1])
    path = plot_eeg_window(eeg, tmp_path / "eeg.png", fs=200, spectrogram=spec,
                           votes=ds.votes(row)[0], proba=proba, title="eeg 1628180742")
    img = assert_valid_png(path.read_bytes())
    k = VIEWER_DPI / 100  # pixels per 1/100 inch
    assert img.shape[:2] == (round(900 * k), round(1800 * k))
    # the labelled central 10 s is shaded: one block of columns mostly in the shading colour,
    # a fifth of the trace panel (about 1030 px for 50 s at 100 dpi), in the middle of it
    shade = np.all(np.abs(img[..., :3] - np.array([255, 233, 168]) / 255) < 0.04, axis=-1)
    cols = np.flatnonzero(shade[int(100 * k):int(800 * k)].mean(axis=0) > 0.3)
    assert len(cols) and cols[-1] - cols[0] + 1 - len(cols) <= 3  # the 25 s grid line
    assert 170 * k < len(cols) < 240 * k and 450 * k < cols.mean() < 700 * k
    # on the spectrogram (right third) the labelled 10 s is marked in yellow in all four panels,
    # over their whole height, not by a 5-pixel bar at the top edge
    mark = np.all(np.abs(img[..., :3] - np.array([0xFF, 0xD3, 0x4D]) / 255) < 0.06, axis=-1)
    rows = np.flatnonzero(mark[:, int(1150 * k):].any(axis=1))
    assert len(rows) > 0.5 * img.shape[0] * 0.6
    # the model's legend swatch shows every class colour, not just the seizure colour: the
    # legend sits in the headroom above the distribution panel's bars
    legend = img[int(680 * k):int(712 * k), int(1250 * k):int(1700 * k), :3]
    found = [np.any(np.all(np.abs(legend - np.array(matplotlib.colors.to_rgb(c))) < 0.05,
                           axis=-1)) for c in ("#D55E00", "#E69F00", "#0072B2", "#56B4E9")]
    assert all(found)
    # EEG only, the central 10 s with a NaN gap and a flat channel: still drawn
    eeg2 = eeg[:, 4000:6000].copy()
    eeg2[:, 300:700] = np.nan
    eeg2[EEG_COLUMNS.index("O2")] = 0
    assert_valid_png(plot_eeg_window(eeg2, tmp_path / "eeg2.png").read_bytes())
    with pytest.raises(ValueError, match=r"\(20, n_samples\)"):
        plot_eeg_window(eeg[:19], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"spectrogram must be \(n_rows, 400\)"):
        plot_eeg_window(eeg, tmp_path / "x.png", spectrogram=spec[:, :100])


def test_pick_example_windows_worst_then_best(hms_mini):
    ds = HMSDataset(hms_mini)  # 9 rows, all votes seizure
    proba = np.full((9, 6), 0.1)
    proba[:, 0] = np.linspace(0.1, 0.5, 9)  # row 0 worst, row 8 best
    proba /= proba.sum(axis=1, keepdims=True)
    ex = pick_example_windows(ds, proba, n=3)
    assert [e["title"].split(":")[0].split(",")[1] for e in ex] == [
        f" label_id {ds.labels['label_id'].iloc[i]}" for i in (0, 1, 8)]
    assert ex[0]["eeg"].shape == (20, 10000) and ex[0]["spectrogram"].shape == (300, 400)
    np.testing.assert_array_equal(ex[2]["eeg"], ds.eeg_windows(ds.labels.iloc[[8]])[0])
    np.testing.assert_array_equal(ex[0]["proba"], proba[0])
    assert "consensus seizure" in ex[0]["title"] and "worst" in ex[0]["title"]


# ------------------------------------------------------------------ the page
def test_write_report_embeds_every_picture(tmp_path):
    votes, proba, reports = _fake_cv()
    rng = np.random.default_rng(3)
    eeg = rng.normal(scale=30, size=(20, 2000)).astype(np.float32)
    names = ["spectral_relpower_alpha_LL_50s", "temporal_logvar_C_10s"] + [
        f"f<{i}>" for i in range(38)]
    prior = np.broadcast_to(votes.mean(axis=0) / votes.mean(axis=0).sum(), votes.shape)
    html_path = write_report(
        tmp_path / "out", oof_proba=proba, votes=votes, fold_reports=reports,
        feature_names=names, importances=rng.gamma(1, 10, 40),
        example_windows=[{"eeg": eeg, "votes": votes[0], "proba": proba[0], "title": "ex 0"}],
        title="CV <demo> & report",
        baselines={"uniform": np.full(votes.shape, 1 / 6), "class prior (in-sample)": prior,
                   "oracle (true distributions)": [0.25, 0.125, 0.5],
                   "from kl_table": {"KL": 0.75, "KL >=10 votes": 0.5, "KL <10 votes": 1.0}},
        settings={"seed": 7, "feature_set": "fast", "lgbm": {"n_estimators": 300},
                  "data <dir>": "/x"},
    )
    assert html_path == tmp_path / "out" / "report.html"
    pngs = sorted(p.name for p in html_path.parent.glob("*.png"))
    assert pngs == ["confusion.png", "eeg_window_0.png", "importances.png", "kl_by_group.png",
                    "reliability.png"]
    text = html_path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    assert not page.open  # every element closed
    assert "CV &lt;demo&gt; &amp; report" in text and "f&lt;3&gt;" in text
    # overall, baselines, class balance, folds, importances, glossary summary, settings
    assert page.tags.count("table") == 7
    # baselines: uniform scored here (KL of 1/6 against these votes), numbers passed through
    assert f"{kl_report(votes, np.full(votes.shape, 1 / 6))['kl']:.4f}" in text
    assert f"{kl_report(votes, prior)['kl']:.4f}" in text
    assert "oracle (true distributions)" in text and "0.1250" in text and "0.7500" in text
    # settings rendered (JSON for non-strings, escaped) with the library version added
    from hms_features import __version__

    assert "n_estimators" in text and "data &lt;dir&gt;" in text and __version__ in text
    # the glossary: a CSV next to the page, decoded rows in the importance table
    glossary = (html_path.parent / "feature_glossary.csv").read_text(encoding="utf-8")
    assert glossary.splitlines()[0].startswith("feature,family,measure,band,group,span,unit")
    assert "spectral_relpower_alpha_LL_50s,spectral,relpower,alpha (8–13 Hz)" in glossary
    assert "href='feature_glossary.csv'" in text and "<details>" in text
    assert "summed over the trees of all six classes" in text
    srcs = [img["src"] for img in page.images]
    assert len(srcs) == len(pngs)
    embedded = set()
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert_valid_png(data)
        embedded.add(data)
    assert embedded == {(html_path.parent / n).read_bytes() for n in pngs}
    assert f"{kl_report(votes, proba)['kl']:.4f}" in text
    assert all(c in text for c in CLASSES)


def test_write_report_omits_missing_sections(tmp_path):
    _, _, reports = _fake_cv(n=30)
    html_path = write_report(tmp_path, oof_proba=None, votes=None, fold_reports=reports)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["kl_by_group.png"]
    text = html_path.read_text(encoding="utf-8")
    assert text.count("<img") == 1 and "Reliability" not in text
    empty = write_report(tmp_path / "empty", oof_proba=None, votes=None, fold_reports=[])
    assert "<img" not in empty.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"baselines\['bad'\] must be three KL numbers"):
        write_report(tmp_path / "bad", oof_proba=np.full((30, 6), 1 / 6),
                     votes=np.ones((30, 6)), fold_reports=None, baselines={"bad": [1, 2]})
    with pytest.raises(ValueError, match="votes has 30 rows but oof_proba 29"):
        write_report(tmp_path / "bad", oof_proba=np.full((29, 6), 1 / 6),
                     votes=np.ones((30, 6)), fold_reports=None)


@pytest.mark.slow
def test_report_of_a_small_synthetic_run_stays_under_1_5_mb(tmp_path):
    """Three 50 s EEG windows, every default feature, all tables: well under 1.5 MB (was 4.6)."""
    from hms_features.features.registry import feature_names
    from hms_features.synthetic import make_synthetic_hms

    ds = HMSDataset(make_synthetic_hms(tmp_path / "data", n_patients=1, seed=0, n_test=1))
    votes = ds.votes(ds.labels).astype(float)
    rng = np.random.default_rng(0)
    proba = 0.5 * votes / votes.sum(1, keepdims=True) + 0.5 * rng.dirichlet(np.ones(6),
                                                                            len(votes))
    names = feature_names("default")
    html_path = write_report(
        tmp_path / "report", oof_proba=proba, votes=votes,
        fold_reports=fold_kl_reports(votes, proba, np.arange(len(votes)) % 3),
        feature_names=names, importances=rng.gamma(1, 10, len(names)),
        example_windows=pick_example_windows(ds, proba, n=3), settings={"seed": 0})
    size = html_path.stat().st_size
    assert size < 1.5e6, f"report.html is {size / 1e6:.2f} MB"
    text = html_path.read_text(encoding="utf-8")
    assert text.count("<img") == 7  # reliability, confusion, KL, importances, 3 windows
    for img in _images(text):
        assert_valid_png(img, min_side=150)


def _images(text: str) -> list[bytes]:
    page = _Page()
    page.feed(text)
    return [base64.b64decode(i["src"].split(",", 1)[1]) for i in page.images]


def test_importance_axis_says_what_is_measured(tmp_path):
    from hms_features.report import IMPORTANCE_LABELS

    assert "summed over the six class trees" in IMPORTANCE_LABELS["gain"]
    # a label given as text is used as is; the picture differs with the label
    a = plot_importances(["a", "b"], [1, 2], tmp_path / "a.png").read_bytes()
    b = plot_importances(["a", "b"], [1, 2], tmp_path / "b.png", importance_type="split")
    assert a != b.read_bytes()

"""scikit-learn's estimator checks for every estimator of the library, in one place.

Each estimator runs :func:`sklearn.utils.estimator_checks.check_estimator` with the checks it is
expected to fail listed with their reason. Any other failing check fails the test, and so does a
listed check that passes (the list must not go stale).
"""

from __future__ import annotations

import pytest
import sklearn
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.fixes import parse_version

from hms_features.build import HMSFeatureExtractor
from hms_features.models import (
    EmbeddingUnion,
    HMSPipeline,
    LSTMEmbedder,
    MLPEmbedder,
    SoftLabelLGBMClassifier,
)

_LABEL_ROWS = ("takes a DataFrame of HMS label rows (eeg_id, offsets) naming recordings under "
               "root, not a numeric matrix")

EXPECTED = {
    # Trees that really split on the checks' tiny data sets (min_child_samples=1).
    "SoftLabelLGBMClassifier": (
        lambda: SoftLabelLGBMClassifier(n_estimators=20, min_child_samples=1, random_state=0),
        {
            "check_sample_weight_equivalence_on_dense_data": (
                "LightGBM builds its histogram bins from the rows, not their weights, and bagging "
                "draws rows: an integer weight is not a repeated row (it is when the bins agree: "
                "tests/test_lgbm.py::test_sample_weight_equals_repeating_rows)"
            ),
        },
    ),
    "HMSFeatureExtractor": (
        HMSFeatureExtractor,
        {
            **{check: _LABEL_ROWS for check in (
                "check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters",
                "check_dtype_object", "check_estimators_dtypes",
                "check_estimators_fit_returns_self",
                "check_estimators_overwrite_params", "check_estimators_pickle",
                "check_f_contiguous_array_estimator", "check_fit1d", "check_fit2d_1feature",
                "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_check_is_fitted",
                "check_fit_idempotent", "check_fit_score_takes_y",
                "check_methods_sample_order_invariance", "check_methods_subset_invariance",
                "check_n_features_in", "check_n_features_in_after_fitting",
                "check_pipeline_consistency", "check_positive_only_tag_during_fit",
                "check_readonly_memmap_input", "check_transformer_data_not_an_array",
                "check_transformer_general", "check_transformer_preserve_dtypes",
                "check_estimator_sparse_tag",
            )},
            "check_estimators_empty_data_messages": _LABEL_ROWS + "; an empty label table is "
                                                    "rejected at transform (TypeError on arrays)",
            "check_estimators_nan_inf": _LABEL_ROWS + "; NaN in an id is caught when reading",
            "check_estimator_sparse_array": _LABEL_ROWS + "; its TypeError names DataFrames",
            "check_estimator_sparse_matrix": _LABEL_ROWS + "; its TypeError names DataFrames",
        },
    ),
    "MLPEmbedder": (
        lambda: MLPEmbedder(hidden=(4,), max_epochs=2, random_state=0),
        {
            "check_sample_weight_equivalence_on_dense_data":
                "stochastic mini-batch Adam: a weight of 2 is not the same as a duplicated row",
            "check_transformer_general": "fit_transform is out-of-fold by design (like "
                                         "TargetEncoder)",
            "check_transformer_data_not_an_array": "fit_transform is out-of-fold by design",
        },
    ),
    "LSTMEmbedder": (
        lambda: LSTMEmbedder(hidden=2, n_steps=1, max_epochs=2, random_state=0),
        {
            "check_sample_weight_equivalence_on_dense_data":
                "stochastic mini-batch Adam: a weight of 2 is not the same as a duplicated row",
            "check_transformer_general": "fit_transform is out-of-fold by design (like "
                                         "TargetEncoder)",
            "check_transformer_data_not_an_array": "fit_transform is out-of-fold by design",
        },
    ),
    # EmbeddingUnion validates X with sklearn's validate_data (2-D, numeric, not sparse or
    # complex, NaN allowed when every embedder allows it, n_features_in_ on transform); what
    # remains is by design.
    "EmbeddingUnion": (
        lambda: EmbeddingUnion([("mlp", MLPEmbedder(hidden=(4,), max_epochs=2, random_state=0))]),
        {
            "check_transformer_general": "fit_transform is out-of-fold by design (its "
                                         "embedders')",
            "check_transformer_data_not_an_array": "fit_transform is out-of-fold by design",
            "check_transformer_preserve_dtypes": "embeddings are float32 whatever the input dtype",
        },
    ),
    "HMSPipeline": (
        lambda: HMSPipeline([("clf", SoftLabelLGBMClassifier(n_estimators=10, random_state=0))]),
        {
            "check_estimators_overwrite_params": "sklearn.pipeline.Pipeline fits the estimators "
                                                 "held in its steps parameter in place",
            "check_dont_overwrite_parameters": "sklearn.pipeline.Pipeline fits the estimators "
                                               "held in its steps parameter in place",
            "check_estimators_nan_inf": "sklearn.pipeline.Pipeline does not pass its steps' "
                                        "allow_nan tag on; the classifier takes NaN as missing",
        },
    ),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", list(EXPECTED))
def test_check_estimator(name):
    make, expected = EXPECTED[name]
    # raises on any failing check that is not listed
    results = check_estimator(make(), expected_failed_checks=expected, on_skip=None)
    stale = sorted({r["check_name"] for r in results
                    if r["status"] == "passed" and r.get("expected_to_fail")})
    assert not stale, f"{name}: listed as failing but passing now, remove from EXPECTED: {stale}"
    unknown = set(expected) - {r["check_name"] for r in results}
    # The lists are written for scikit-learn 1.9; older versions (down to the 1.6 floor) lack some
    # checks, and there a listed name may not run.
    if parse_version(sklearn.__version__) >= parse_version("1.9"):
        assert not unknown, f"{name}: no such checks (typo?): {sorted(unknown)}"

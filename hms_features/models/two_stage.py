"""Vote-aware training: selection and weights by number of votes, and two-stage training.

In the HMS training data a label row has from 1 to about 28 expert votes. Rows with many votes
have reliable vote distributions — and the hidden test set is made of such rows — while rows with
few votes are noisy. Top competition solutions therefore trained in two stages: first on all
rows, then continued on the high-agreement rows only (at least about 10 votes).

:class:`TwoStageClassifier` does that with LightGBM: stage 1 fits a
:class:`~hms_features.models.SoftLabelLGBMClassifier` on all rows, stage 2 adds
``stage2_estimators`` boosting rounds to the *same* booster (LightGBM's ``init_model``), fitted
on the rows with at least ``min_votes`` votes with the same soft-label KL objective. The result is
one LightGBM text model whose first rounds are stage 1's.

:func:`min_votes_mask` and :func:`hms_features.data.vote_weights` are the two simpler recipes
(keep only the rows with enough votes; weight each row by its number of votes, capped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..metrics import CLASSES
from .lgbm import SoftLabelLGBMClassifier, as_soft_targets, soft_cross_entropy_grad_hess, softmax
from .persist import begin_save, model_file, read_manifest, register_kind, write_manifest

__all__ = ["TwoStageClassifier", "min_votes_mask"]

_K = len(CLASSES)
_STAGE_DIR = "lgbm"
#: Files a saved two-stage model needs (checked whatever its manifest lists).
_FILES = (f"{_STAGE_DIR}/manifest.json", f"{_STAGE_DIR}/booster.txt")


def _n_votes(votes, name: str) -> np.ndarray:
    v = np.asarray(votes, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != _K:
        raise ValueError(f"{name}: expected vote counts of shape (n_rows, {_K}), got {v.shape}")
    return v.sum(axis=1)


def min_votes_mask(votes, min_votes: float) -> np.ndarray:
    """Rows with at least ``min_votes`` expert votes.

    Parameters
    ----------
    votes : array-like, shape (n_rows, 6)
        Vote counts.
    min_votes : float
        Threshold (e.g. 10, the usual "high-agreement" cut of the competition).

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    return _n_votes(votes, "votes") >= min_votes


@register_kind
class TwoStageClassifier(ClassifierMixin, BaseEstimator):
    """Soft-label LightGBM trained on all rows, then continued on the rows with many votes.

    Parameters
    ----------
    base : SoftLabelLGBMClassifier or None
        Stage-1 model (cloned; default ``SoftLabelLGBMClassifier()``). Its parameters (leaves,
        subsampling, ``vote_weight_power``, ...) apply to stage 2 as well; its early stopping
        (``validation_fraction``/``early_stopping_rounds``) only to stage 1.
    min_votes : float
        Stage 2 trains on the rows whose vote counts sum to at least this.
    stage2_estimators : int
        Boosting rounds added in stage 2 (no early stopping).
    stage2_learning_rate : float or None
        Learning rate of stage 2; None keeps the base's.

    Attributes
    ----------
    estimator_ : SoftLabelLGBMClassifier
        The final model: the continued booster (stage-1 rounds, then stage-2 rounds). Predicting
        with it is predicting with this classifier.
    stage1_iterations_ : int
        Rounds of stage 1 kept (its best iteration when it stopped early).
    n_stage2_rows_ : int
        Rows with at least ``min_votes`` votes.
    classes_, n_features_in_, feature_names_in_ : as for SoftLabelLGBMClassifier.

    Notes
    -----
    ``y`` must be vote counts (the number of votes decides stage 2); probabilities count as one
    vote each, so with them no row reaches ``min_votes > 1``, which is an error.

    Examples
    --------
    On a feature table ``X`` and vote counts ``votes``::

        clf = TwoStageClassifier(SoftLabelLGBMClassifier(n_estimators=300), min_votes=10,
                                 stage2_estimators=100).fit(X, votes)
    """

    def __init__(self, base=None, min_votes: float = 10, stage2_estimators: int = 100,
                 stage2_learning_rate: float | None = None):
        self.base = base
        self.min_votes = min_votes
        self.stage2_estimators = stage2_estimators
        self.stage2_learning_rate = stage2_learning_rate

    def fit(self, X, y, sample_weight=None, groups=None):
        """Stage 1 on all rows, stage 2 (continued booster) on rows with ``>= min_votes`` votes.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n, n_features)
        y : array-like or DataFrame, shape (n, 6)
            Vote counts (see :func:`~hms_features.models.as_soft_targets`).
        sample_weight : array-like, shape (n,), optional
            Row weights, used in both stages.
        groups : array-like, shape (n,), optional
            Patient ids, for the base's ``validation_fraction`` hold-out in stage 1.

        Returns
        -------
        self
        """
        import lightgbm as lgb

        base = SoftLabelLGBMClassifier() if self.base is None else clone(self.base)
        if not isinstance(base, SoftLabelLGBMClassifier):
            raise TypeError(f"base must be a SoftLabelLGBMClassifier, got {type(base).__name__}")
        if int(self.stage2_estimators) < 1:
            raise ValueError(f"stage2_estimators must be >= 1, got {self.stage2_estimators}")
        T, n_votes = as_soft_targets(y, name="y")
        keep = n_votes >= self.min_votes
        if keep.sum() < 2:
            raise ValueError(
                f"min_votes={self.min_votes}: only {int(keep.sum())} of {len(keep)} rows have that "
                f"many votes (the most is {n_votes.max():g}); stage 2 needs at least 2 rows "
                "(pass vote counts, not probabilities)"
            )
        stage1 = base.fit(X, y, sample_weight=sample_weight, groups=groups)
        w = np.power(n_votes, float(base.vote_weight_power))  # as stage 1 weights its rows
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, dtype=np.float64).reshape(-1)  # checked by stage 1
        n1 = int(stage1.best_iteration_)
        booster1 = lgb.Booster(model_str=stage1.booster_.model_to_string(num_iteration=n1))
        Xa = stage1._check_X(X, fitting=False)[keep]
        T2, w2 = T[keep], w[keep]
        if not w2.sum() > 0:
            raise ValueError("sample weights of the stage-2 rows sum to 0: nothing to learn from")
        init = stage1.init_score_

        # LightGBM starts the continued booster from init_model's raw scores, which lack the
        # classifier's constant starting score: add it back for the gradients.
        def objective(raw, _data):
            return soft_cross_entropy_grad_hess(raw + init, T2, w2)

        params = stage1._lgb_params(*Xa.shape)
        params["objective"] = objective
        params["metric"] = "None"
        if self.stage2_learning_rate is not None:
            params["learning_rate"] = float(self.stage2_learning_rate)
        train = lgb.Dataset(
            Xa, feature_name=booster1.feature_name(), free_raw_data=True,
            params={"max_bin": base.max_bin, "verbosity": -1, "feature_pre_filter": False},
        )
        booster = lgb.train(params, train, num_boost_round=int(self.stage2_estimators),
                            init_model=booster1)
        stage1.booster_ = booster
        stage1.best_iteration_ = booster.current_iteration()
        self.estimator_ = stage1
        self.stage1_iterations_ = n1
        self.n_stage2_rows_ = int(keep.sum())
        self._copy_fitted(stage1)
        return self

    def _copy_fitted(self, est) -> None:
        self.classes_ = est.classes_
        self.n_features_in_ = est.n_features_in_
        if hasattr(est, "feature_names_in_"):
            self.feature_names_in_ = est.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ----------------------------------------------------------------- predict
    def decision_function(self, X) -> np.ndarray:
        """Raw scores of the continued booster, shape (n, 6)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, 6), in ``classes_`` order."""
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """Most probable class name per row."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Negative Kaggle KL divergence of ``predict_proba(X)`` from ``y`` (higher is better)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Importance per feature over both stages' trees (the base's ``importance_type``)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.feature_importances_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------- persistence
    def save(self, directory) -> Path:
        """Save to ``directory``: the final booster as a LightGBM text model (in ``lgbm/``,
        written by :meth:`SoftLabelLGBMClassifier.save`) and a manifest with the two-stage
        parameters. No pickle."""
        check_is_fitted(self, "estimator_")
        directory = begin_save(directory)  # no loadable folder until the manifest is written
        self.estimator_.save(directory / _STAGE_DIR)
        payload = {
            "params": {"min_votes": self.min_votes, "stage2_estimators": self.stage2_estimators,
                       "stage2_learning_rate": self.stage2_learning_rate},
            "stage1_iterations": int(self.stage1_iterations_),
            "n_stage2_rows": int(self.n_stage2_rows_),
        }
        write_manifest(directory, type(self).__name__, payload, files=_FILES)
        return directory

    @classmethod
    def load(cls, directory, feature_names=None) -> TwoStageClassifier:
        """Load a model written by :meth:`save` (checksums checked; no code executed)."""
        from .persist import ModelFileError, manifest_field

        directory = Path(directory)
        m = read_manifest(directory, kind=cls.__name__, required=_FILES)
        params = manifest_field(m, "params", directory, dict)
        unknown = sorted(set(params) - set(cls().get_params(deep=False)) - {"base"})
        if unknown:
            raise ModelFileError(f"{directory}: manifest has unknown parameters {unknown}")
        est = SoftLabelLGBMClassifier.load(model_file(directory, _STAGE_DIR),
                                           feature_names=feature_names)
        model = cls(base=SoftLabelLGBMClassifier(**est.get_params(deep=False)), **params)
        model.estimator_ = est
        model.stage1_iterations_ = manifest_field(m, "stage1_iterations", directory, int)
        model.n_stage2_rows_ = manifest_field(m, "n_stage2_rows", directory, int)
        model._copy_fitted(est)
        return model


import numpy as np
import pytest

from ctrkit.inference.metrics import binary_metrics, expected_calibration_error, group_auc, log_loss, roc_auc
from ctrkit.train import monitor_value

skm = pytest.importorskip("sklearn.metrics", reason="the reference metrics come from scikit-learn")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 5000).astype(float)
    p = np.clip(rng.beta(2, 5, 5000) + 0.2 * y, 0, 1)
    p[:500] = np.round(p[:500], 2)             # ties
    p[0], p[1] = 0.0, 1.0                       # clipped extremes
    m = binary_metrics(y, p)
    assert abs(m["auc"] - skm.roc_auc_score(y, p)) < 1e-9
    assert abs(m["logloss"] - skm.log_loss(y, p)) < 1e-9
    pred = p >= 0.5
    assert abs(m["accuracy"] - skm.accuracy_score(y, pred)) < 1e-9
    assert abs(m["precision"] - skm.precision_score(y, pred)) < 1e-9
    assert abs(m["recall"] - skm.recall_score(y, pred)) < 1e-9
    assert abs(m["f1"] - skm.f1_score(y, pred)) < 1e-9


def test_auc_all_ties_and_single_class():
    assert roc_auc(np.array([0, 1, 0, 1]), np.full(4, 0.3)) == 0.5
    assert np.isnan(roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])))
    assert log_loss(np.array([1.0]), np.array([1.0])) < 1e-12


def test_calibration_error_by_hand():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.95, 0.85, 0.55, 0.45])
    # bins: [0,.1):{.05/0} [.1,.2):{.15/0} [.4,.5):{.45/0} [.5,.6):{.55/1} [.8,.9):{.85/1} [.9,1]:{.95/1}
    expected = (0.05 + 0.15 + 0.45 + 0.45 + 0.15 + 0.05) / 6
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    m = binary_metrics(y, p)
    assert m["mean_prediction"] == pytest.approx(p.mean()) and m["observed_rate"] == pytest.approx(0.5)


def test_group_auc_weights_groups_by_size():
    y = np.array([0, 1, 0, 1, 1, 1, 0, 1])
    p = np.array([.1, .9, .8, .2, .5, .5, .3, .4])
    g = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    # group 1: 1.0, group 2: 0.0, group 3 skipped (one class), group 4: 1.0
    assert group_auc(y, p, g) == pytest.approx((2 * 1.0 + 2 * 0.0 + 2 * 1.0) / 6)


def test_monitor_expressions():
    m = {"auc": 0.8, "logloss": 0.4}
    assert monitor_value(m, "auc") == 0.8
    assert monitor_value(m, "logloss") == -0.4
    assert monitor_value(m, "auc-logloss") == pytest.approx(0.4)


def test_weighted_monitor_and_bad_expressions():
    m = {"auc": 0.8, "logloss": 0.4}
    assert monitor_value(m, "auc-0.5*logloss") == pytest.approx(0.6)
    with pytest.raises(ValueError, match="unknown metric 'aucc'"):
        monitor_value(m, "aucc")
    with pytest.raises(ValueError, match="weighted sum"):
        monitor_value(m, "auc/logloss")

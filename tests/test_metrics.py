import math

import numpy as np
import pytest

from slca_min.train import classification_metrics, roc_auc


def test_auc_hand_worked_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1) = 3.5 / 4
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.4, 0.1])) == pytest.approx(0.875)
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_binary_metrics_hand_worked():
    y = np.array([0, 0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.3, 0.7, 0.2])  # predictions 0 1 0 1 0
    m = classification_metrics(y, np.stack([1 - p1, p1], 1))
    assert m["acc"] == pytest.approx(3 / 5)
    assert m["balanced_acc"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # AUC: positives 0.7, 0.2 vs negatives 0.1, 0.6, 0.3 -> 0.7 beats 3, 0.2 beats 1: 4 / 6
    assert m["auc"] == pytest.approx(4 / 6)
    # class 0: tp 2, predicted 3, true 3 -> F1 2/3; class 1: tp 1, predicted 2, true 2 -> 1/2
    assert m["f1_macro"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_class_absent_from_predictions():
    y = np.array([0, 1, 2, 2])
    scores = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7], [0.5, 0.1, 0.4]])  # predicts 0 0 2 0
    m = classification_metrics(y, scores)
    assert m["acc"] == pytest.approx(2 / 4)
    assert m["balanced_acc"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    # F1: class 0 tp 1, pred 3, true 1 -> 2/4; class 1 never predicted -> 0; class 2 tp 1, pred 1, true 2 -> 2/3
    assert m["f1_macro"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    # one-vs-rest AUC: class 0: pos 0.7 vs 0.6, 0.2, 0.5 -> 1; class 1: pos 0.3 vs 0.2, 0.1, 0.1 -> 1;
    # class 2: pos 0.7, 0.4 vs 0.1, 0.1 -> 1
    assert m["auc"] == pytest.approx(1.0)
    scores[1] = [0.6, 0.05, 0.35]  # class 1's only positive now scores below every negative -> AUC 0
    assert classification_metrics(y, scores)["auc"] == pytest.approx((1 + 0 + 1) / 3)


def test_binary_auc_uses_last_column_not_argmax():
    y = np.array([0, 1, 0, 1])
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])  # argmax always 0, ranking imperfect
    m = classification_metrics(y, scores)
    assert m["acc"] == 0.5 and m["balanced_acc"] == 0.5
    assert m["auc"] == pytest.approx(3 / 4)


def test_multilabel_metrics_by_hand():
    from slca_min.train import classification_metrics

    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.3], [0.2, 0.6]])
    m = classification_metrics(y, p)
    # label 0: predictions 1,0,1,0 all right; AUC 1. label 1: predictions 0,1,0,1 -> 2 of 4 right;
    # AUC: positives {0.7, 0.3}, negatives {0.2, 0.6}: pairs won 0.7>0.2, 0.7>0.6, 0.3>0.2 -> 3/4
    assert m["acc"] == pytest.approx((4 + 2) / 8)
    assert m["auc"] == pytest.approx((1.0 + 0.75) / 2)
    assert m["balanced_acc"] == pytest.approx((1.0 + 0.5) / 2)  # label 1: recall 1/2 on both classes
    assert m["f1_macro"] == pytest.approx((1.0 + 0.5) / 2)  # label 1: F1 of class 0 = 1/2, class 1 = 1/2

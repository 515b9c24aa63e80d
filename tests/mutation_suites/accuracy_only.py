"""A weak suite: it only checks that the model ranks late flights above on-time ones."""

from sklearn.metrics import roc_auc_score


def test_model_is_accurate(model, dataset):
    held_out = dataset[dataset["month"] >= 11]
    assert roc_auc_score(held_out["late"], model.predict_proba(held_out)) > 0.6

"""Is the reference modeling dataset joined without fan-out or loss, versioned by content, split by time?"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_course import datasets
from mlops_course.data import load_flights, load_table


@pytest.fixture(scope="module")
def small():
    return datasets.build_dataset(fraction=0.02, seed=1)


def test_one_row_per_departed_flight(small):
    """Does the dataset keep every flight that departed, once, and none that was cancelled?"""
    dataset, lineage = small
    departed = load_flights(fraction=0.02, seed=1)["dep_delay"].notna().sum()
    assert len(dataset) == departed == lineage["rows"]
    assert dataset["flight_id"].is_unique


def test_target_and_features(small):
    """Is `late` exactly dep_delay >= 15, and are all features present?"""
    dataset, _ = small
    assert (dataset["late"] == (dataset["dep_delay"] >= 15).astype(int)).all()
    assert set(datasets.FEATURES) <= set(dataset.columns)


def test_lineage_names_every_input(small):
    """Does the lineage record hash and count every input table and name the code version?"""
    _, lineage = small
    assert set(lineage["inputs"]) == {"flights", "weather", "planes", "airports"}
    assert all(len(i["sha256"]) == 64 and i["rows"] > 0 for i in lineage["inputs"].values())
    assert lineage["code_version"] and lineage["created"]


def test_version_is_the_content(small, tmp_path):
    """Does the same data get the same version, and different data a different one?"""
    dataset, lineage = small
    again, lineage2 = datasets.build_dataset(fraction=0.02, seed=1)
    assert lineage2["version"] == lineage["version"]
    other = dataset.copy()
    other.loc[0, "temp"] = -99.0
    assert datasets.fingerprint(other)[:12] != lineage["version"]


def test_snapshot_round_trip_and_reuse(tmp_path):
    """Is a saved snapshot loaded back identical, reused for the same parameters, and found by version?"""
    first = datasets.ensure_snapshot(tmp_path, fraction=0.01, seed=2)
    assert first.path.name == f"flights-{first.version}.parquet"
    again = datasets.ensure_snapshot(tmp_path, fraction=0.01, seed=2)
    assert again.path == first.path
    loaded = datasets.open_snapshot(tmp_path, first.version).load()
    assert datasets.fingerprint(loaded)[:12] == first.version
    with pytest.raises(FileNotFoundError, match=first.version):
        datasets.open_snapshot(tmp_path, "000000000000")


def test_a_fan_out_join_is_refused():
    """Does joining on a key that is not unique (hour instead of time_hour) raise instead of duplicating flights?"""
    weather = load_table("weather")
    doubled = pd.concat([weather, weather.head(5)])
    with pytest.raises(datasets.JoinError, match="not unique"):
        datasets.join_tables(load_flights(months=[1]), doubled, load_table("planes"), load_table("airports"))


def test_splits_are_in_time_order(small):
    """Are time windows returned as asked, and overlapping or backwards windows refused?"""
    dataset, _ = small
    parts = datasets.split_by_months(dataset, train=datasets.TRAIN_MONTHS, validation=datasets.VALIDATION_MONTHS,
                                     test=datasets.TEST_MONTHS)
    assert parts["train"]["month"].max() == 8 and set(parts["test"]["month"]) == {11, 12}
    assert sum(len(p) for p in parts.values()) == len(dataset)
    with pytest.raises(ValueError, match="must come after"):
        datasets.split_by_months(dataset, train=[1, 2, 3], test=[3, 4])


def test_a_changed_snapshot_file_is_caught(tmp_path):
    """Does loading a snapshot whose file was overwritten with other data fail, naming the version?"""
    snapshot = datasets.ensure_snapshot(tmp_path, months=[2], fraction=0.01, seed=2)
    tampered = snapshot.load()
    tampered.loc[0, "temp"] = tampered["temp"].max() + 10
    tampered.to_parquet(snapshot.path, index=False)
    with pytest.raises(datasets.SnapshotError, match=snapshot.version):
        datasets.open_snapshot(tmp_path, snapshot.version).load()
    assert len(snapshot.load(verify=False)) == len(tampered)


def test_the_version_comes_from_the_data(small, tmp_path):
    """Is a lineage record that names another version refused, and months given as a tuple reused?"""
    dataset, lineage = small
    with pytest.raises(datasets.SnapshotError, match="names version 000000000000"):
        datasets.save_snapshot(dataset, {**lineage, "version": "000000000000"}, tmp_path)
    first = datasets.ensure_snapshot(tmp_path, months=(3,), fraction=0.01)
    assert datasets.ensure_snapshot(tmp_path, months=[3], fraction=0.01) == first


def test_changed_inputs_are_named(small):
    """Does a later step find which input table differs from the one the dataset was built from?"""
    _, lineage = small
    inputs = {"flights": load_flights(fraction=0.02, seed=1), "weather": load_table("weather"),
              "planes": load_table("planes"), "airports": load_table("airports")}
    assert datasets.changed_inputs(lineage, inputs) == []
    inputs["weather"].loc[10, "temp"] += 0.1
    del inputs["airports"]
    assert datasets.changed_inputs(lineage, inputs) == ["weather", "airports"]
    with pytest.raises(ValueError, match="no 'inputs'"):
        datasets.changed_inputs({}, inputs)


def test_lineage_is_logged_to_mlflow_and_read_back(small, tmp_path, monkeypatch):
    """Does an MLflow run carry the dataset version as a param and tag, and the whole record as an artifact?"""
    import mlflow

    from mlops_course.tracking import use_experiment

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, lineage = small
    use_experiment("lineage-test", tmp_path)
    with pytest.raises(RuntimeError, match="active MLflow run"):
        datasets.log_lineage(lineage)
    with mlflow.start_run() as run:
        datasets.log_lineage(lineage)
    logged = mlflow.get_run(run.info.run_id).data
    assert logged.params["dataset_version"] == lineage["version"] == logged.tags["dataset_version"]
    assert logged.params["input.weather.sha256"] == lineage["inputs"]["weather"]["sha256"]
    assert datasets.lineage_of_run(run.info.run_id) == lineage

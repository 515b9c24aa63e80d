"""Does a lab track into its own folder alone, and into the class server when one is configured?"""

from __future__ import annotations

from mlops_course import tracking


def test_local_store_lives_in_the_lab_folder(tmp_path, monkeypatch):
    """Without a tracking server, is the store a SQLite file in the lab's artifacts/?"""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/artifacts/mlflow.db"


def test_a_class_server_is_picked_up_from_the_environment(tmp_path, monkeypatch):
    """With MLFLOW_TRACKING_URI set, does every lab use that server?"""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri(tmp_path) == "http://127.0.0.1:5000"


def test_experiment_artifacts_go_beside_the_store(tmp_path, monkeypatch):
    """Does a local experiment keep its artifacts in an explicit folder beside the database?"""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_id = tracking.use_experiment("course-test", tmp_path)
    assert tracking.use_experiment("course-test", tmp_path) == experiment_id
    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path.resolve() / "artifacts" / "mlruns").as_uri()


def test_a_second_lab_in_the_same_process_gets_its_own_store(tmp_path, monkeypatch):
    """Does a lab's local store stay out of the environment, so the next lab (or a kernel it starts) is not sent there?"""
    import os

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    first = tracking.configure_tracking(tmp_path / "first")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    second = tracking.configure_tracking(tmp_path / "second")
    assert first != second and str(tmp_path / "second") in second


def test_an_experiment_another_student_just_created_is_reused(tmp_path, monkeypatch):
    """When the experiment appears between our look-up and our create (two students at once), is it reused?"""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = tracking.use_experiment("shared-experiment", tmp_path)
    real_lookup = mlflow.get_experiment_by_name
    calls = []

    def lookup_before_the_other_student(name):
        calls.append(name)
        return None if len(calls) == 1 else real_lookup(name)  # the first look-up misses it

    monkeypatch.setattr(mlflow, "get_experiment_by_name", lookup_before_the_other_student)
    assert tracking.use_experiment("shared-experiment", tmp_path) == first
    assert len(calls) == 2


def test_names_are_the_accounts_own_on_a_tracking_server_with_accounts(monkeypatch):
    """With a tracking server and an MLflow account, is every experiment and model name prefixed with the account, once?"""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mc-alice")
    assert tracking.personal_name("lab02-data") == "mc-alice.lab02-data"
    assert tracking.personal_name("mc-alice.flight-delay") == "mc-alice.flight-delay"
    assert "/" not in tracking.personal_name("flight-delay") and ":" not in tracking.personal_name("flight-delay")


def test_names_are_unchanged_without_an_account_or_with_a_local_store(tmp_path, monkeypatch):
    """Alone (no account), or with a local SQLite store, does a lab keep its experiment's plain name?"""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    assert tracking.personal_name("lab02-data") == "lab02-data"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mc-alice")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = tracking.use_experiment("lab02-data", tmp_path)
    assert mlflow.get_experiment(experiment_id).name == "lab02-data"


def _experiments(database):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{database}")
    return {e.name: e.artifact_location for e in client.search_experiments()}, client


def test_a_new_store_starts_from_the_environments_migrated_empty_store(tmp_path, monkeypatch):
    """Is a new store a copy of the empty store (made on first need), with its own Default experiment, that works?"""
    template = tmp_path / "share" / "empty.db"
    monkeypatch.setattr(tracking, "empty_store", lambda: template)
    first = tmp_path / "one" / "mlflow.db"
    first.parent.mkdir()
    tracking.seed_store(first)
    assert template.exists() and first.read_bytes() == template.read_bytes()
    second = tmp_path / "two" / "mlflow.db"
    second.parent.mkdir()
    monkeypatch.chdir(second.parent)
    tracking.seed_store(second)
    found, client = _experiments(second)
    assert found == {"Default": str(second.parent / "mlruns" / "0")}, found
    run = client.create_run(client.create_experiment("seeded"))
    client.log_metric(run.info.run_id, "auc", 0.8)
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.8}
    before = second.read_bytes()
    tracking.seed_store(second)
    assert second.read_bytes() == before, "an existing store is never replaced"


def test_without_a_writable_environment_mlflow_builds_the_store_itself(tmp_path, monkeypatch):
    """Where no empty store can be made, does a new store still work, built by MLflow?"""
    blocked = tmp_path / "read-only"
    blocked.write_text("a file, so no folder can be made under it")
    monkeypatch.setattr(tracking, "empty_store", lambda: blocked / "share" / "empty.db")
    database = tmp_path / "lab" / "mlflow.db"
    database.parent.mkdir()
    tracking.seed_store(database)
    assert not database.exists()
    monkeypatch.chdir(database.parent)
    found, _ = _experiments(database)
    assert list(found) == ["Default"]

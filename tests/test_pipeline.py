"""Does the DVC pipeline rerun exactly what changed, version its data, and name a broken project's faults?"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
import yaml

from mlops_course import pipeline, stages
from mlops_course.errors import DataError
from mlops_course.pipeline import PipelineError


@pytest.fixture(scope="module")
def project(mlflow_store):
    """A pipeline on 2% of the flights, reproduced once; its MLflow store stays in the project's artifacts/
    (mlflow_store leaves no tracking URI in the environment for DVC's stages)."""
    folder = pipeline.write_project(mlflow_store.folder / "project", {"data": {"fraction": 0.02}})
    return folder, pipeline.repro(folder)


def test_first_repro_runs_every_stage_in_order(project):
    """Does the first `dvc repro` run ingest, validate, split, train, evaluate and register, in that order?"""
    folder, first = project
    assert first == list(stages.STAGES)
    metrics = yaml.safe_load((folder / stages.METRICS).read_text())
    assert 0.5 < metrics["roc_auc"] < 1 and metrics["expected_cost"] > 0
    assert yaml.safe_load((folder / stages.REGISTERED).read_text())["alias"] == "candidate"


def test_second_repro_runs_no_stage(project):
    """With nothing changed, does a second `dvc repro` run no stage and leave nothing to do?"""
    folder, _ = project
    assert pipeline.repro(folder) == []
    assert pipeline.status(folder) == {}


def test_changed_parameter_reruns_exactly_the_downstream_stages(project):
    """Does changing train.learning_rate rerun train, evaluate and register, and nothing upstream?"""
    folder, _ = project
    before = pipeline.locked_hashes(folder)
    pipeline.set_params(folder, {"train": {"learning_rate": 0.2}})
    assert pipeline.would_run(folder) == ["train", "evaluate", "register"]
    assert pipeline.repro(folder) == ["train", "evaluate", "register"]
    after = pipeline.locked_hashes(folder)
    assert after[stages.MODEL] != before[stages.MODEL]
    assert {p: after[p] for p in stages.SPLITS.values()} == {p: before[p] for p in stages.SPLITS.values()}


def test_a_stage_whose_output_did_not_change_stops_the_rerun(project):
    """Does a reformatted schema rerun validate only, because its output is byte for byte the same?"""
    folder, _ = project
    schema_file = folder / stages.SCHEMA
    schema_file.write_text(schema_file.read_text().replace("\n  ", "\n    "))
    assert pipeline.repro(folder) == ["validate"]


def test_changed_evaluation_parameter_does_not_retrain(project):
    """Does slicing by carrier instead of origin rerun evaluate only (the metrics, hence register, are unchanged)?"""
    folder, _ = project
    pipeline.set_params(folder, {"evaluate": {"slice_column": "carrier"}})
    assert pipeline.repro(folder) == ["evaluate"]
    assert "UA" in yaml.safe_load((folder / stages.SLICES).read_text())


def test_push_delete_cache_pull_restores_identical_hashes(project, tmp_path):
    """After `dvc push` to a folder, deleting the cache and the outputs, does `dvc pull` restore the same content?"""
    folder, _ = project
    pipeline.add_remote(folder, tmp_path / "remote")
    pipeline.push(folder)
    locked = pipeline.locked_hashes(folder)
    shutil.rmtree(pipeline.cache_dir(folder))
    for path in locked:
        (folder / path).unlink()
    assert set(pipeline.file_hashes(folder, list(locked)).values()) == {None}
    pipeline.pull(folder)
    assert pipeline.file_hashes(folder, list(locked)) == locked
    assert pipeline.repro(folder) == []


def test_an_earlier_model_is_rebuilt_exactly_from_its_commit(tmp_path):
    """From a fresh clone at an earlier commit, with no DVC cache, is that commit's model rebuilt byte for byte?"""
    folder = pipeline.write_project(tmp_path / "project", {"data": {"fraction": 0.02}}, git=True)
    pipeline.repro(folder, "train")
    first_commit, first_model = pipeline.commit(folder, "first model"), pipeline.locked_hashes(folder)[stages.MODEL]
    pipeline.set_params(folder, {"train": {"learning_rate": 0.2}})
    pipeline.repro(folder, "train")
    pipeline.commit(folder, "learning rate 0.2")
    assert pipeline.locked_hashes(folder)[stages.MODEL] != first_model
    rebuilt = pipeline.rebuild(folder, first_commit, tmp_path / "rebuild", "train")
    assert rebuilt[stages.MODEL] == (first_model, first_model)
    assert not pipeline.cache_dir(folder).samefile(pipeline.cache_dir(tmp_path / "rebuild"))
    assert yaml.safe_load((tmp_path / "rebuild" / "params.yaml").read_text())["train"]["learning_rate"] == 0.1
    with pytest.raises(PipelineError, match="git checkout"):
        pipeline.rebuild(folder, "0" * 40, tmp_path / "rebuild", "train")


def test_downstream_follows_files_not_the_order_of_stages(tmp_path):
    """Is a stage downstream exactly when it reads, directly or through others, a file a changed stage writes?"""
    _write(tmp_path, pipeline.default_stages(), pipeline.DEFAULT_PARAMS)
    assert pipeline.downstream(tmp_path, ["split"]) == ["split", "train", "evaluate", "register"]
    assert pipeline.downstream(tmp_path, ["evaluate"]) == ["evaluate", "register"]
    assert pipeline.downstream(tmp_path, []) == []
    spec = pipeline.default_stages()
    spec["stages"]["evaluate"]["deps"].remove(stages.MODEL)
    _write(tmp_path, spec, pipeline.DEFAULT_PARAMS)
    assert pipeline.downstream(tmp_path, ["train"]) == ["train", "register"]


def test_a_stage_module_is_copied_into_the_project(tmp_path):
    """Does write_project copy a learner's stage module into the project, where DVC can track it as a dependency?"""
    module = tmp_path / "train.py"
    module.write_text("print('training')\n")
    spec = pipeline.default_stages()
    spec["stages"]["train"]["cmd"] = "python train.py"
    spec["stages"]["train"]["deps"].insert(0, "train.py")
    folder = pipeline.write_project(tmp_path / "project", stages=spec, code=[module])
    assert (folder / "train.py").read_text() == module.read_text()


def test_missing_stage_module_is_named(tmp_path):
    """Is a stage module that was never written refused by name, before DVC runs anything?"""
    with pytest.raises(PipelineError, match="train.py does not exist"):
        pipeline.write_project(tmp_path / "project", code=[tmp_path / "train.py"])


def _write(folder, dvc_yaml: dict, params: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def test_stage_with_a_missing_dependency_is_named(tmp_path):
    """Is a stage that depends on a file nobody produces refused, naming the stage and the file?"""
    spec = pipeline.default_stages()
    spec["stages"]["train"]["deps"].append("data/holidays.csv")
    _write(tmp_path, spec, pipeline.DEFAULT_PARAMS)
    (tmp_path / stages.SCHEMA).write_text("{}")
    with pytest.raises(PipelineError, match=r"stage 'train' depends on 'data/holidays.csv'"):
        pipeline.check_project(tmp_path)


def test_params_with_an_unknown_key_is_named(tmp_path):
    """Is a typo in params.yaml (learnig_rate) refused with the key and the keys it could have meant?"""
    params = yaml.safe_load(yaml.safe_dump(pipeline.DEFAULT_PARAMS))
    params["train"]["learnig_rate"] = params["train"].pop("learning_rate")
    _write(tmp_path, pipeline.default_stages(), params)
    (tmp_path / stages.SCHEMA).write_text("{}")
    with pytest.raises(PipelineError, match=r"unknown key 'train.learnig_rate'.*train.learning_rate"):
        pipeline.check_project(tmp_path)


def test_stage_using_an_undefined_parameter_is_named(tmp_path):
    """Is a stage that uses a parameter params.yaml lacks refused, naming both?"""
    params = yaml.safe_load(yaml.safe_dump(pipeline.DEFAULT_PARAMS))
    del params["data"]["seed"]
    _write(tmp_path, pipeline.default_stages(), params)
    (tmp_path / stages.SCHEMA).write_text("{}")
    with pytest.raises(PipelineError, match=r"stage 'ingest' uses the parameter 'data.seed'"):
        pipeline.check_project(tmp_path)


def test_set_params_refuses_unknown_keys(tmp_path):
    """Does changing a parameter that does not exist fail instead of adding it?"""
    _write(tmp_path, pipeline.default_stages(), pipeline.DEFAULT_PARAMS)
    with pytest.raises(PipelineError, match=r"unknown parameter 'train.depth'"):
        pipeline.set_params(tmp_path, {"train": {"depth": 3}})
    with pytest.raises(PipelineError, match=r"unknown parameter group 'model'"):
        pipeline.set_params(tmp_path, {"model": {}})


def test_project_without_dvc_yaml_is_named(tmp_path):
    """Is checking a folder with no dvc.yaml an error that says what to write?"""
    with pytest.raises(PipelineError, match=r"no dvc.yaml"):
        pipeline.check_project(tmp_path)


def test_validate_stage_stops_on_data_that_breaks_the_schema(tmp_path):
    """Does the validate stage refuse a table whose scheduled hour became text, naming the column?"""
    frame = pd.DataFrame({"carrier": ["UA"], "hour": ["07"], "late": [1]})
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / stages.RAW)
    (tmp_path / stages.SCHEMA).write_text(stages.reference_schema().to_json())
    with pytest.raises(DataError, match=r"hour: type_change"):
        stages.validate(tmp_path, {})
    assert not (tmp_path / stages.VALIDATED).exists()


def test_stage_runner_names_an_unknown_stage(tmp_path):
    """Does `python -m mlops_course.stages` name the stages when given an unknown one?"""
    with pytest.raises(ValueError, match=r"unknown stage 'deploy'"):
        stages.run("deploy", tmp_path)


@pytest.mark.slow
def test_reference_schema_file_is_the_inferred_schema():
    """Is the schema kept in flights-schema.json what inferring it from the whole year gives?"""
    assert stages.reference_schema() == stages.infer_reference_schema()


def test_status_of_a_folder_that_is_no_dvc_project_is_named(tmp_path):
    """Does asking a plain folder for its status name the folder, and leave this process's environment as it was?"""
    before = dict(os.environ)
    with pytest.raises(PipelineError, match=f"`dvc status` failed in {tmp_path}"):
        pipeline.status(tmp_path)
    assert dict(os.environ) == before

"""Does the Zero to JupyterHub set-up for a large class agree with the course?

The Helm chart and the cluster cannot be run offline; these tests parse the
files and check every value that must match the course's own settings: the
image built from environment.yml, the exchange's shared mount, MLflow's URL,
the gradebook's variable, the course id.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import yaml
from traitlets.config import Config

from mlops_course.course.config import COURSE_ID, DB_URL_ENV, EXCHANGE_ENV
from mlops_course.tracking import TRACKING_SERVER_ENV, TRACKING_URI_ENV

from ..conftest import ROOT

Z2JH = ROOT / "classroom" / "z2jh"


def _values() -> dict:
    return yaml.safe_load((Z2JH / "config.yaml").read_text())


def _services() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all((Z2JH / "services.yaml").read_text())}


def _image_config() -> Config:
    c = Config()
    exec((Z2JH / "nbgrader_config.py").read_text(), {"get_config": lambda: c})
    return c


def test_the_image_is_built_from_the_course_environment():
    """Does the Dockerfile install environment.yml and the course package, and leave solutions/ out?"""
    dockerfile = (Z2JH / "Dockerfile").read_text()
    assert "environment.yml" in dockerfile and "mamba env update" in dockerfile
    assert "mlops-course install-kernel" in dockerfile
    assert "solutions" not in re.sub(r"(?m)^#.*$", "", dockerfile).replace("never solutions/", "")
    image = _values()["singleuser"]["image"]
    assert f"{image['name']}:{image['tag']}" in dockerfile, "the Dockerfile's build command must tag the image config.yaml runs"


def test_the_exchange_is_one_shared_volume_at_the_configured_path():
    """Is the exchange a ReadWriteMany claim mounted where nbgrader and the course look for it?"""
    single = _values()["singleuser"]
    mounts = {m["name"]: m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in single["storage"]["extraVolumes"]}
    path = mounts["nbgrader-exchange"]
    assert _image_config().Exchange.root == path
    assert single["extraEnv"][EXCHANGE_ENV] == path
    assert f"{EXCHANGE_ENV}={path}" in (Z2JH / "Dockerfile").read_text()
    pvc = _services()[("PersistentVolumeClaim", claims["nbgrader-exchange"])]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "every student's server mounts the exchange at once"
    assert _image_config().CourseDirectory.course_id == COURSE_ID


def test_mlflow_tracking_uri_points_at_the_mlflow_service():
    """Does every server's MLFLOW_TRACKING_URI name the MLflow Service, on its port?"""
    url = urlparse(_values()["singleuser"]["extraEnv"][TRACKING_URI_ENV])
    service = _services()[("Service", "mlflow")]
    assert url.hostname.split(".")[0] == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]
    args = " ".join(_services()[("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f"--port {url.port}" in args and url.hostname in args, "MLflow must listen there and accept that host name"


def test_mlflow_runs_with_the_class_servers_settings():
    """Does the cluster's MLflow server get the settings the class server's gets (no job consumers)?"""
    container = _services()[("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert TRACKING_SERVER_ENV.items() <= env.items(), f"services.yaml's MLflow lacks {TRACKING_SERVER_ENV}"


def test_the_gradebook_url_reaches_the_instructor_only():
    """Is the gradebook's variable the course's, set on the hub from a secret and given only to the instructor?"""
    hub = _values()["hub"]
    assert DB_URL_ENV in hub["extraEnv"] and "secretKeyRef" in hub["extraEnv"][DB_URL_ENV]["valueFrom"]
    hook = hub["extraConfig"]["01-instructor-env"]
    assert f'spawner.environment["{DB_URL_ENV}"]' in hook and "admin_users" in hook
    assert DB_URL_ENV not in _values()["singleuser"]["extraEnv"], "students' servers must not get the gradebook"
    assert hub["config"]["Authenticator"]["admin_users"] == ["instructor"]


# The chart version the values are written for, its defaults and values schema kept beside them (SOURCE.md there).
CHART_VERSION = "4.2.0"
CHART = Z2JH / f"chart-{CHART_VERSION}"


def helm_merge(defaults: dict, values: dict) -> dict:
    """The values helm renders with: maps merged key by key, anything else replaced, a null removing the default."""
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def schema_errors(values: dict) -> list[str]:
    import jsonschema

    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    merged = helm_merge(yaml.safe_load((CHART / "values.yaml").read_text()), values)
    found = jsonschema.Draft7Validator(schema).iter_errors(merged)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found)


def test_the_values_pass_the_charts_own_schema_at_the_pinned_version():
    """Do the course's values, merged over the chart's defaults, pass the chart's values schema, as helm checks them?"""
    assert f"--version {CHART_VERSION}" in (Z2JH / "config.yaml").read_text(), "config.yaml names another chart version"
    errors = schema_errors(_values())
    assert not errors, "classroom/z2jh/config.yaml does not fit the chart's values schema:\n" + "\n".join(errors)


def test_the_schema_check_refuses_a_misspelt_or_mistyped_value():
    """Does the schema check fail on a key the chart does not know and on a value of the wrong type?"""
    values = _values()
    values["hub"] = {**values["hub"], "extraEnvv": {}}
    values["singleuser"] = {**values["singleuser"], "startTimeout": "five minutes"}
    errors = "\n".join(schema_errors(values))
    assert "extraEnvv" in errors and "startTimeout" in errors, errors

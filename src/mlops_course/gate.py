"""The promotion gate: when may a pipeline's candidate model replace the ``champion``?

Continuous delivery for ML (Sato et al. 2019) lets every pipeline run produce a
deployable model, but only a model that is *proven* better may be deployed. The
gate compares the candidate with the current champion on the same held-out
flights and promotes it (moves the MLflow ``champion`` alias) only when all three
hold:

1. it beats the champion on the chosen metric by at least a margin (a
   difference smaller than the noise of a test set is not an improvement);
2. it passed every ML test (data, behaviour, infrastructure);
3. no large slice (an origin airport, a carrier) gets worse by more than a
   threshold: an average can improve while one group of customers pays for it.

``decide`` is the rule on plain figures; ``run_gate`` applies it to registered
model versions and moves the alias; ``write_report`` writes the Markdown a CI
job posts on the pull request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlops_course.errors import GateError
from mlops_course.models import CHAMPION, MODEL_NAME, TrainedModel, evaluate

# Metrics where a larger value is better; the others (expected cost) are costs.
HIGHER_IS_BETTER = {"roc_auc"}


@dataclass(frozen=True)
class GateRules:
    """How much better a candidate must be. Costs are in dollars per flight (Lab 01's costs)."""

    metric: str = "expected_cost"
    margin: float = 0.02
    max_slice_loss: float = 0.25
    min_slice_rows: int = 100

    def improvement(self, candidate: float, champion: float) -> float:
        """How much better the candidate is (positive) or worse (negative), whatever the metric's direction."""
        return candidate - champion if self.metric in HIGHER_IS_BETTER else champion - candidate


@dataclass
class Decision:
    """The gate's verdict, with every reason, and the figures it was based on (for the report)."""

    promote: bool
    reasons: list[str]
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    slices: pd.DataFrame = field(default_factory=pd.DataFrame)
    failed_tests: list[str] = field(default_factory=list)
    rules: GateRules = field(default_factory=GateRules)


def slice_table(candidate: dict, champion: dict, rules: GateRules) -> pd.DataFrame:
    """One row per slice: rows, both costs and the candidate's loss (positive = worse); large slices flagged."""
    rows = []
    for name in sorted(set(candidate) | set(champion)):
        new, old = candidate.get(name), champion.get(name)
        if new is None or old is None:
            continue
        rows.append({"slice": name, "rows": int(new["rows"]), "candidate": new["expected_cost"],
                     "champion": old["expected_cost"], "loss": new["expected_cost"] - old["expected_cost"]})
    table = pd.DataFrame(rows, columns=["slice", "rows", "candidate", "champion", "loss"])
    table["large"] = table["rows"] >= rules.min_slice_rows
    return table


def decide(candidate: dict, champion: dict, candidate_slices: dict, champion_slices: dict,
           failed_tests: list[str], rules: GateRules = GateRules()) -> Decision:
    """The gate's rule on plain figures: promote only if better by the margin, all tests green, no large slice lost.

    Every failed condition is listed, not only the first, so that whoever reads the report sees all of them.
    """
    if rules.metric not in candidate or rules.metric not in champion:
        raise GateError(f"the gate compares on '{rules.metric}', which the metrics do not have: {sorted(candidate)}")
    new, old = float(candidate[rules.metric]), float(champion[rules.metric])
    if math.isnan(new) or math.isnan(old):
        raise GateError(f"'{rules.metric}' is not a number (candidate {new}, champion {old}); evaluate on more flights")
    gain = rules.improvement(new, old)
    metrics = pd.DataFrame({"candidate": candidate, "champion": champion}).astype(float)
    metrics["change"] = metrics["candidate"] - metrics["champion"]
    slices = slice_table(candidate_slices, champion_slices, rules)
    reasons = []
    if gain < rules.margin:
        reasons.append(f"{rules.metric} is {new:.4f} against the champion's {old:.4f}: an improvement of {gain:.4f}, "
                       f"below the required margin of {rules.margin}")
    if failed_tests:
        reasons.append(f"{len(failed_tests)} ML test(s) failed: {', '.join(failed_tests)}")
    lost = slices[slices["large"] & (slices["loss"] > rules.max_slice_loss)]
    for row in lost.itertuples():
        reasons.append(f"slice '{row.slice}' ({row.rows} flights) costs {row.loss:.3f} more per flight "
                       f"(limit {rules.max_slice_loss})")
    promote = not reasons
    if promote:
        reasons.append(f"{rules.metric} improves by {gain:.4f} (margin {rules.margin}), every ML test passed and "
                       f"no slice of {rules.min_slice_rows}+ flights loses more than {rules.max_slice_loss}")
    return Decision(promote, reasons, metrics, slices, list(failed_tests), rules)


def load_version(version: str, name: str = MODEL_NAME) -> TrainedModel:
    """A registered model version with its threshold, ready to predict."""
    import mlflow

    client = mlflow.MlflowClient()
    try:
        record = client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as error:
        raise GateError(f"there is no version {version} of the model '{name}' in {mlflow.get_registry_uri()}") from error
    if "threshold" not in record.tags:
        raise GateError(f"version {version} of '{name}' has no 'threshold' tag; register it with models.log_and_register")
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    return TrainedModel(pipeline, float(record.tags["threshold"]), {})


def champion_version(name: str = MODEL_NAME) -> str:
    """The version the ``champion`` alias points at; a clear error when there is none yet."""
    import mlflow

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException as error:
        raise GateError(
            f"no version of the model '{name}' has the alias '{CHAMPION}' in {mlflow.get_registry_uri()}, so there "
            f"is nothing to compare the candidate with. Register a first champion deliberately "
            f"(mlops_course.models.ensure_champion, or set the alias on a reviewed version) and run the gate again."
        ) from error


def measure(model: TrainedModel, frame: pd.DataFrame, slice_column: str) -> tuple[dict, dict]:
    """A model's metrics and per-slice costs on ``frame``."""
    from mlops_course.stages import slice_costs

    return evaluate(model, frame), slice_costs(model, frame, slice_column)


def run_gate(candidate_version: str, frame: pd.DataFrame, failed_tests: list[str], name: str = MODEL_NAME,
             rules: GateRules = GateRules(), slice_column: str = "origin") -> Decision:
    """Compare a registered candidate with the champion on ``frame``; move ``champion`` if the gate passes.

    Both models are measured on the same flights now, not compared on figures logged at different times
    on different data. The decision is stored as tags on the candidate's version either way.
    """
    import mlflow

    champion = champion_version(name)
    if str(candidate_version) == champion:
        raise GateError(f"version {candidate_version} of '{name}' is already the champion; nothing to decide")
    candidate_metrics, candidate_slices = measure(load_version(candidate_version, name), frame, slice_column)
    champion_metrics, champion_slices = measure(load_version(champion, name), frame, slice_column)
    decision = decide(candidate_metrics, champion_metrics, candidate_slices, champion_slices, failed_tests, rules)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(name, str(candidate_version), "gate", "promoted" if decision.promote else "blocked")
    client.set_model_version_tag(name, str(candidate_version), "gate_reasons", "; ".join(decision.reasons)[:5000])
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, str(candidate_version))
    return decision


def write_report(decision: Decision, folder: Path, title: str = "Model promotion gate") -> Path:
    """A Markdown report (metrics diff, slice table, verdict) with one plot, as CI posts on a pull request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot = folder / "slices.png"
    figure, axes = plt.subplots(figsize=(6, 3))
    if len(decision.slices):
        positions = range(len(decision.slices))
        axes.bar([p - 0.2 for p in positions], decision.slices["champion"], width=0.4, label="champion")
        axes.bar([p + 0.2 for p in positions], decision.slices["candidate"], width=0.4, label="candidate")
        axes.set_xticks(list(positions), decision.slices["slice"])
    axes.set_ylabel("expected cost ($/flight)")
    axes.set_title("Cost per slice")
    axes.legend()
    figure.tight_layout()
    figure.savefig(plot, dpi=80)
    plt.close(figure)
    verdict = "**Promoted** to champion" if decision.promote else "**Blocked**: the champion stays"
    lines = [f"# {title}", "", verdict, ""] + [f"- {reason}" for reason in decision.reasons] + [
        "", "## Metrics (candidate vs champion, same flights)", "", _markdown(decision.metrics.reset_index(names="metric")),
        "", "## Slices", "", _markdown(decision.slices), "", f"![cost per slice]({plot.name})", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def _markdown(frame: pd.DataFrame) -> str:
    """A pipe table without the optional ``tabulate`` package."""
    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])

"""The task spec: what ``tasks/<task-id>/task.yaml`` may contain.

Every field has a description; ``medgrade task schema`` exports the JSON Schema built from
these models, so editors can complete and check a spec as it is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from grader.kinds import (
    ClassProbabilitiesContract,
    OutputContract,
    input_kind,
    input_kind_names,
    output_contract,
    output_kind,
    output_kind_names,
)
from grader.suggest import suggest


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    loader: str = Field(
        description="A dataset loader: one of medgrade's ('table' for a CSV or Parquet file, "
        "'sklearn_breast_cancer', 'medmnist'...), one an installed package registers (entry "
        "point group 'medgrade.loaders'), or 'module:function'."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the loader."
    )
    licence: str = Field(description="The dataset's licence, e.g. 'CC BY 4.0'.")
    citation: str = Field(description="How to cite the dataset and its creators.")
    source_url: str | None = Field(default=None, description="Where users can obtain the data.")
    cases: Literal["all", "recorded"] = Field(
        default="all",
        description="'all': the task uses every case the loader returns; 'recorded': only the "
        "cases its split manifest records (a task defined on a subset of a dataset: further "
        "cases in the user's copy are ignored, also when the split is checked).",
    )

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, value: str) -> str:
        from grader.data._loaders import resolve_loader

        resolve_loader(value)
        return value

    @model_validator(mode="after")
    def _known_params(self) -> DatasetSpec:
        from grader.data import check_loader_params

        problems = check_loader_params(self.loader, self.params)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SplitFractions(_Strict):
    train: Annotated[float, Field(gt=0, lt=1)]
    validation: Annotated[float, Field(gt=0, lt=1)]
    test: Annotated[float, Field(gt=0, lt=1)]

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-9:
            raise ValueError(
                f"train + validation + test must add up to 1, they add up to {total:g}"
            )
        return self


class SplitSpec(_Strict):
    strategy: Literal["stratified", "grouped", "scaffold", "official"] = Field(
        description="'stratified': random by case; 'grouped': random by group_key so no group "
        "(e.g. patient) spans two splits; 'scaffold': whole groups of group_key, largest "
        "first, into train, then validation, then test (Bemis-Murcko scaffolds of molecules; "
        "deterministic, no seed); 'official': the dataset's own split."
    )
    seed: int = Field(default=0, description="Random seed; the same seed gives the same split.")
    fractions: SplitFractions | None = Field(
        default=None, description="Share of cases in each split (not for 'official')."
    )
    stratify: bool = Field(default=True, description="Keep the label balance equal across splits.")
    group_key: str | None = Field(
        default=None,
        description="Per-case grouping attribute for 'grouped' (e.g. 'patient_id') and "
        "'scaffold' (e.g. 'scaffold').",
    )
    public_test_inputs: bool = Field(
        default=False,
        description="Whether the student bundle includes the test inputs (never the labels).",
    )
    manifest: str = Field(
        default="split.json",
        description="File in the task folder recording every split's case ids and sha256 "
        "(a .json.gz name stores it compressed, for datasets with many cases).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SplitSpec:
        if self.strategy != "official" and self.fractions is None:
            raise ValueError(f"strategy {self.strategy!r} needs 'fractions'")
        if self.strategy == "official" and self.fractions is not None:
            raise ValueError(
                "strategy 'official' takes its fractions from the dataset; remove 'fractions'"
            )
        if self.strategy in ("grouped", "scaffold") and not self.group_key:
            raise ValueError(f"strategy {self.strategy!r} needs 'group_key'")
        return self


class InputSpec(_Strict):
    kind: str = Field(
        description="An input kind: medgrade's ('table': a float64 array (n_cases, "
        "n_features); 'image': an array (n_cases, height, width[, channels]); 'signal': an "
        "array (n_cases, n_samples); 'volume': a list with one dict per case, {'image': a "
        "float32 array (X, Y, Z), 'spacing_mm': (x, y, z)}, the cases differing in shape; "
        "'text': a list with one dict of text fields per case; 'molecules': an array of SMILES "
        "strings) or "
        "one an installed package registers (entry point group 'medgrade.kinds')."
    )
    description: str = Field(description="What the submission receives, in the student's words.")

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        input_kind(value)  # raises, naming the known kinds
        return value


class MetricSpec(_Strict):
    name: str = Field(description="A metric of grader.metrics, e.g. 'roc_auc'.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options for the metric, e.g. n_bins."
    )

    @field_validator("name")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        from grader.metrics import UnknownMetricError, metric_names

        names = metric_names()
        if value in names:
            return value
        # The registry's suggestions know other libraries' names too ('qwk', 'auroc').
        suggestions = UnknownMetricError(value, names).suggestions
        hint = f" (did you mean {suggestions[0]!r}?)" if suggestions else ""
        raise ValueError(f"unknown metric{hint}; known: {', '.join(names)}")

    @model_validator(mode="after")
    def _known_options(self) -> MetricSpec:
        from grader.metrics import METRICS

        info = METRICS[self.name]
        kind = output_kind(info.output)
        accepted = kind.spec_options(self.name, info.options)
        unknown = sorted(set(self.options) - set(accepted))
        if unknown:
            raise ValueError(
                f"metric {self.name!r} takes no option(s) {unknown}; it accepts {list(accepted) or 'none'}"
            )
        # Try the options on a tiny well-posed example, so a bad value (n_bins: 0) fails
        # here, naming the field, rather than after every student's run.
        y_true, predictions, task_options = kind.metric_example()
        try:
            info.function(y_true, predictions, **task_options, **self.options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid option value for metric {self.name!r}: {error}") from None
        return self


class Limits(_Strict):
    """A run's limits.  Time is **CPU time**: the seconds of CPU every process of the
    submission used, counted by the sandbox's supervisor from the moment the submission's
    code may start (after the sandbox's own start, the interpreter and the preloaded
    libraries, and any wait for a worker), so that the marks never depend on how busy the
    machine is.  Wall time is only a generous guard against runs that hang."""

    cpu_time_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        description="CPU seconds one run may use (load_model + predict, or a notebook's cells "
        "and then load_model + predict), all its processes together."
    )
    hang_guard_s: Annotated[float, Field(gt=0, le=86_400)] | None = Field(
        default=None,
        description="Wall-clock seconds after which a run that waits rather than computes "
        "(a sleep, a deadlock) is stopped; default max(60, 3 x cpu_time_s / cpus).",
    )
    memory_mb: Annotated[int, Field(ge=64)] = Field(description="Memory limit in MiB.")
    submission_mb: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=1024,
        description="The largest submission, its code and weights together, in MiB; a larger "
        "one is a graded failure before it runs (a pretrained language model's weights, say).",
    )
    cpus: Annotated[float, Field(gt=0, le=256)] = Field(default=1, description="CPU cores.")
    gpu: bool = Field(default=False, description="Whether the run wants a GPU.")
    runs_per_gpu: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1,
        description="In a batch, how many runs may share one GPU at once (each run of a "
        "small model uses a sliver of a GPU; a heavy one wants a device to itself).",
    )
    notebook_time_s: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Notebook submissions: wall-clock guard for running the cells, within "
        "the hang guard (default 80% of it, leaving the rest for load_model and predict); "
        "the cells' CPU time counts towards cpu_time_s.",
    )
    notebook_cell_time_s: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Notebook submissions: wall-clock guard for any one cell (default: "
        "notebook_time_s).",
    )

    @model_validator(mode="before")
    @classmethod
    def _wall_time_is_now_a_guard(cls, data: Any) -> Any:
        if isinstance(data, dict) and "wall_time_s" in data:
            raise ValueError(
                "wall_time_s is gone: a run's limit is now its CPU time (cpu_time_s: "
                f"{data['wall_time_s']}, say), which load on the machine cannot change; wall "
                "time is only a guard against hangs (hang_guard_s, default max(60, 3 x "
                "cpu_time_s / cpus))"
            )
        return data

    @property
    def wall_time_s(self) -> float:
        """The hang guard, in wall-clock seconds."""
        if self.hang_guard_s is not None:
            return self.hang_guard_s
        return max(60.0, 3 * self.cpu_time_s / min(self.cpus, 1.0))

    @model_validator(mode="after")
    def _times_fit(self) -> Limits:
        for name in ("notebook_time_s", "notebook_cell_time_s"):
            value = getattr(self, name)
            if value is not None and value >= self.wall_time_s:
                raise ValueError(
                    f"{name} ({value:g}) must be below the hang guard ({self.wall_time_s:g} s), "
                    "which also covers load_model and predict"
                )
        if self.hang_guard_s is not None and self.hang_guard_s < self.cpu_time_s:
            raise ValueError(
                f"hang_guard_s ({self.hang_guard_s:g}) is shorter than cpu_time_s "
                f"({self.cpu_time_s:g}): a single-threaded run could never use its CPU time"
            )
        return self


class ReferenceSpec(_Strict):
    package: str | None = Field(
        default=None,
        description="Importable package whose folder is the reference submission "
        "(for tasks bundled with medgrade).",
    )
    path: str | None = Field(
        default=None, description="Reference submission folder, relative to the task folder."
    )
    train_command: str = Field(description="The one command that retrains the reference.")

    @model_validator(mode="after")
    def _exactly_one_location(self) -> ReferenceSpec:
        if (self.package is None) == (self.path is None):
            raise ValueError("give exactly one of 'package' or 'path'")
        return self


class EnvironmentSpec(_Strict):
    """The Python packages a task's sandbox offers, on every backend (``medgrade env``)."""

    requirements: str | None = Field(
        default=None,
        description="A bundled environment's name (e.g. 'pytorch-cpu', in medgrade's "
        "tasks/environments/), or a requirements file (a .txt path relative to the task "
        "folder, one requirement per line), which a course may name from all its tasks. Its "
        "lock is the file with the suffix .lock beside it.",
    )
    packages: list[str] | None = Field(
        default=None,
        description="The requirements themselves, e.g. ['numpy', 'torch==2.13.0']; the lock is "
        "environment.lock in the task folder.",
    )
    notebooks: bool = Field(
        default=True,
        description="Whether notebook submissions are graded: the environment then has "
        "nbclient and ipykernel too.",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> EnvironmentSpec:
        if (self.requirements is None) == (self.packages is None):
            raise ValueError("give exactly one of 'requirements' or 'packages'")
        return self


class TaskSpec(_Strict):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$", description="Task id, e.g. 'breast-cancer-wdbc'."
    )
    version: str = Field(description="Bump whenever the split, inputs or metrics change.")
    title: str
    description: str = Field(description="What the student must do (Markdown).")
    dataset: DatasetSpec
    split: SplitSpec
    inputs: InputSpec
    output: Annotated[
        OutputContract,
        BeforeValidator(output_contract),
        Field(
            description="What predict returns: 'kind' names an output kind "
            "(binary_probability, class_probabilities, label_map, multilabel_probabilities, or "
            "one an installed package registers), and the kind's own fields follow it (see "
            "`medgrade task schema`)."
        ),
    ]
    metrics: list[MetricSpec] = Field(min_length=1)
    subgroups: list[str] = Field(
        default_factory=list,
        description="Per-case attributes of the dataset to report metrics by (e.g. 'sex').",
    )
    subgroup_metrics: list[str] = Field(
        default_factory=lambda: ["roc_auc", "sensitivity", "fpr"],
        description="Metrics reported per subgroup, with max-min and worst-vs-overall gaps.",
    )
    cluster_key: str | None = Field(
        default=None,
        description="Per-case attribute naming the patient when a patient contributes several "
        "cases (ECG beats, images): confidence intervals then come from a patient-level "
        "(cluster) bootstrap instead of assuming independent cases.",
    )
    min_subgroup_size: Annotated[int, Field(ge=1)] = Field(
        default=20, description="Smaller groups are reported 'not estimable', never as 0."
    )
    limits: Limits
    rubric: str = Field(
        description="A bundled rubric's name, or a .yaml path relative to the task folder."
    )
    reference: ReferenceSpec
    environment: EnvironmentSpec | None = Field(
        default=None,
        description="The packages the sandbox offers; without it the sandbox has whatever "
        "its backend has (this machine's Python environment, or the default image), and every "
        "report says so.",
    )

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, value: list[MetricSpec]) -> list[MetricSpec]:
        names = [m.name for m in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metric(s) listed twice: {duplicates}")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics_score_the_output(
        cls, value: list[MetricSpec], info: ValidationInfo
    ) -> list[MetricSpec]:
        output = info.data.get("output")
        if output is None:  # itself invalid, and reported as such
            return value
        scoring = output_kind(output.kind).metric_names()
        wrong = [m.name for m in value if m.name not in scoring]
        if wrong:
            raise ValueError(
                f"{wrong} do not score output kind {output.kind!r}; it takes {scoring}"
            )
        ordinal = isinstance(output, ClassProbabilitiesContract) and output.ordinal
        if any(m.name == "quadratic_weighted_kappa" for m in value) and not ordinal:
            raise ValueError(
                "quadratic_weighted_kappa weighs a miss by its distance in grades, which only "
                "ordered classes have; set output.ordinal: true, or use macro_f1 or "
                "balanced_accuracy for unordered classes"
            )
        return value

    @field_validator("subgroups")
    @classmethod
    def _subgroups_of_binary_outputs(cls, value: list[str], info: ValidationInfo) -> list[str]:
        output = info.data.get("output")
        if value and output is not None and not output_kind(output.kind).reports_subgroups:
            raise ValueError(f"subgroup reports are for binary outputs only, not {output.kind!r}")
        return value

    @field_validator("subgroup_metrics")
    @classmethod
    def _known_subgroup_metrics(cls, value: list[str]) -> list[str]:
        from grader.metrics._fairness_metrics import SUBGROUP_METRICS

        for name in value:
            _one_of(name, list(SUBGROUP_METRICS), "subgroup metric")
        return value

    @model_validator(mode="after")
    def _output_fits_inputs(self) -> TaskSpec:
        produced = output_kind(self.output.kind)
        layout = input_kind(self.inputs.kind).layout
        if layout not in produced.input_layouts:
            fitting = [
                n for n in input_kind_names() if input_kind(n).layout in produced.input_layouts
            ]
            others = [n for n in output_kind_names() if layout in output_kind(n).input_layouts]
            raise ValueError(
                f"output kind {produced.name!r} goes with inputs kind {_either(fitting)}; "
                f"inputs kind {self.inputs.kind!r} goes with output kind {_either(others)} "
                f"(inputs {self.inputs.kind!r}, output {self.output.kind!r})"
            )
        if (
            produced.layout == "per_case"
            and self.split.stratify
            and self.split.strategy != "official"
        ):
            raise ValueError(
                "split.stratify: label maps have no class to stratify by; set stratify: false"
            )
        return self

    def metric(self, name: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.name == name), None)


def task_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``task.yaml``, with every registered kind: ``output`` is one of the
    output kinds' contracts, ``inputs.kind`` one of the input kinds (plug-ins included)."""
    schema = TaskSpec.model_json_schema()
    definitions = schema.setdefault("$defs", {})
    choices = []
    for name in output_kind_names():
        contract = output_kind(name).contract
        contract_schema = contract.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(contract_schema.pop("$defs", {}))
        definitions[contract.__name__] = contract_schema
        choices.append({"$ref": f"#/$defs/{contract.__name__}"})
    output = schema["properties"]["output"]
    schema["properties"]["output"] = {
        "description": output.get("description", ""),
        "oneOf": choices,
    }
    definitions.pop("OutputContract", None)
    definitions["InputSpec"]["properties"]["kind"]["enum"] = input_kind_names()
    return schema


def _either(names: list[str]) -> str:
    quoted = [repr(name) for name in names] or ["none"]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _one_of(value: str, known: list[str], what: str) -> str:
    if value in known:
        return value
    raise ValueError(f"unknown {what}{suggest(value, known)}; known: {', '.join(known)}")

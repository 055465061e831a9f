"""report.json as one typed record: written here, read back here by summary, batch and matrix.

schema 2: status enum, steps, one verification per artifact, the sha256 of every published file,
and the route attempts made on the way (route choice falls back from one to the next).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

from torch2tf import atomic
from torch2tf.errors import ConfigError

SCHEMA = 2
RUNTIME_KEYS = ("tensorflow", "onnxruntime", "tflite")   # what a verify stage says it ran in
SENSITIVITY_MARGIN = 10.0   # a second input must move an output by more than 10x the tolerance


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"


@dataclass
class StepRecord:
    label: str
    stage: str
    env: str
    status: str                   # ok | failed
    seconds: float | None
    cached: bool = False
    process_seconds: float = 0.0  # the stage process alone (0 when cached)
    env_note: str = ""            # the env this step locked / built first: "locked in 7s, built in 45s (1.3 GB)"


@dataclass
class Verification:
    """One artifact run in one runtime and compared with PyTorch's outputs."""
    artifact: str                 # model.onnx, model.pb, saved_model, model.tflite
    step: str
    env: str
    passed: bool
    outputs: list[dict]           # per output: name, shape, max_abs_diff, max_rel_diff, passed, problem, layout
    latency_ms: float | None = None
    versions: dict = field(default_factory=dict)    # the runtime's: tensorflow / onnxruntime / tflite
    profile: dict | None = None   # a TF graph's full trace: time per op type, layout overhead (stages/_trace.py)

    @classmethod
    def from_metrics(cls, artifact: str, step: str, env: str, metrics: dict) -> "Verification":
        return cls(artifact=artifact, step=step, env=env, passed=bool(metrics.get("passed")),
                   outputs=list(metrics.get("outputs", [])), latency_ms=metrics.get("latency_ms"),
                   versions={k: metrics[k] for k in RUNTIME_KEYS if k in metrics}, profile=metrics.get("profile"))

    @property
    def layout_share(self) -> float | None:
        """The share of the traced time spent moving data (Transposes, Pads, Reshapes, unfused biases)."""
        return (self.profile or {}).get("layout_share")

    @property
    def max_abs_diff(self) -> float | None:
        diffs = [o["max_abs_diff"] for o in self.outputs if o.get("max_abs_diff") is not None]
        return max(diffs) if diffs else None

    @property
    def weak(self) -> bool:
        """The check could not have told a broken conversion (an all-zero reference)."""
        return any(o.get("weak") for o in self.outputs)

    def mark_insensitive(self, sensitivity: dict[str, float]) -> None:
        """An output that a second input moves by no more than 10x the tolerance cannot show that the
        converted graph reads its input: that check is weak, and says why."""
        for o in self.outputs:
            moved, tolerance = sensitivity.get(o["name"]), o.get("atol_used")
            if moved is None or tolerance is None or o.get("weak") or moved > SENSITIVITY_MARGIN * tolerance:
                continue
            o["weak"] = True
            o["note"] = (f"the output hardly depends on the input (a second input moves it by {moved:.2g}, "
                         f"the tolerance is {tolerance:.2g}): a graph that ignored its input would pass")

    @property
    def runtime(self) -> str:
        """'TF 1.13.1', 'onnxruntime 1.8.1', 'TFLite 2.20.0' for messages."""
        names = {"tensorflow": "TF", "onnxruntime": "onnxruntime", "tflite": "TFLite"}
        return ", ".join(f"{names[k]} {v}" for k, v in self.versions.items()) or self.env


@dataclass
class Published:
    path: str
    sha256: str


@dataclass
class Attempt:
    """One route tried for a run: how far it got and why it stopped."""
    route: str
    status: Status
    seconds: float
    failed_step: str | None = None
    error_class: str | None = None
    hint: str | None = None
    cause: str | None = None               # the failing program's own first line (torch's, onnx-tf's, ...)
    max_abs_diff: float | None = None      # of the primary artifact in the target runtime, when it ran
    latency_ms: float | None = None
    transposes: int | None = None
    layout_share: float | None = None      # of the primary artifact's traced time (Verification.layout_share)


@dataclass
class Report:
    name: str
    config: str
    target: str
    route: str
    route_reason: str
    opset: int
    layout: str
    primary: str                  # the file the target runtime loads: model.pb or model.tflite
    status: Status
    seconds: float
    created: str
    steps: list[StepRecord] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    graph: dict | None = None     # inputs, outputs, ops, Transpose count of the primary artifact
    downgrade: dict | None = None
    optimize: dict | None = None  # the optimize step's rewrites and Transpose / Pad / node counts before and after
    versions: dict = field(default_factory=dict)     # torch (the export's)
    export_stack: str = ""        # the export env (compat.yaml stack) the model ran in: model.torch's pick
    locate: dict | None = None    # --locate: the first divergent node (torch2tf/run/locate.py)
    tensor_names: dict | None = None   # an .onnx model: the file's tensor names -> the safe ones (None: a torch model)
    references: str = ""          # an .onnx model: how its reference outputs were made
    export_shims: list[str] = field(default_factory=list)   # activations exported as compositions (SiLU...)
    pytorch_latency_ms: float | None = None
    artifacts: dict[str, Published] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    error: dict | None = None
    last_good: dict | None = None
    schema: int = SCHEMA

    # ---- reading

    def verification(self, artifact: str) -> Verification | None:
        return next((v for v in self.verifications if v.artifact == artifact), None)

    @property
    def verify(self) -> Verification | None:
        """The target runtime's check of the primary artifact."""
        return self.verification(self.primary)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def latency(self) -> list[dict]:
        """CPU latency per artifact beside PyTorch eager (1 thread, same input), with Transpose counts
        (the frozen graph and the SavedModel share one graph; the .tflite is counted by its own inspect)."""
        transposes = (self.graph or {}).get("transposes")
        rows = []
        for v in self.verifications:
            if v.latency_ms is None:
                continue
            rows.append({"artifact": v.artifact + (" (onnxruntime)" if v.artifact == "model.onnx" else ""),
                         "latency_ms": round(v.latency_ms, 3),
                         "vs_pytorch": round(v.latency_ms / self.pytorch_latency_ms, 3) if self.pytorch_latency_ms
                         else None,
                         "transposes": transposes if v.artifact in (self.primary, "saved_model") else None})
        return rows

    # ---- JSON

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        for a in data["attempts"]:
            a["status"] = a["status"].value if isinstance(a["status"], Status) else a["status"]
        data["latency"] = self.latency()          # derived, written for readers of the file
        return data

    @classmethod
    def from_dict(cls, data: dict, where: str = "report.json") -> "Report":
        if data.get("schema") != SCHEMA:
            raise ConfigError(f"report schema {data.get('schema')!r} is not {SCHEMA}", where=where,
                              hint="it was written by another torch2tf version: run the pipeline again")
        data = {k: v for k, v in data.items() if k != "latency"}
        try:
            return cls(**{**data, "status": Status(data["status"]),
                          "steps": [StepRecord(**s) for s in data.get("steps", [])],
                          "verifications": [Verification(**v) for v in data.get("verifications", [])],
                          "artifacts": {k: Published(**v) for k, v in data.get("artifacts", {}).items()},
                          "attempts": [Attempt(**{**a, "status": Status(a["status"])}) for a in data.get("attempts", [])]})
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"report is malformed: {exc}", where=where,
                              hint="run the pipeline again to rewrite it") from None

    def write(self, path: Path) -> None:
        atomic.write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Report":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()), where=str(path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read report: {exc}", where=str(path),
                              hint="run the pipeline again to rewrite it") from None

"""The configuration of one training experiment: an ensemble of modular-addition models.

Defaults are the paper's (section 2, appendix E) and its authors' code: p = 59, d = 128, two hidden layers of
100 SiLU units, full-batch AdamW with lr 0.01, weight decay 0.5 on every parameter, 30 000 steps, an 80/20
split. The authors' code initialises the MLP with torch's default ``Linear`` init although appendix E says
N(0, 1) for every weight: ``mlp_init="torch"`` follows the code, ``mlp_init="normal"`` the appendix.

``architecture="transformer"`` trains Nanda et al.'s one-layer transformer instead, and the fields whose
published value differs between the two (p, steps, lr, weight_decay, betas, train_frac, hidden, activation,
heads) then default to that paper's values: they are ``None`` here and filled from
:data:`training.architectures.ARCHITECTURES`, the one table of per-architecture defaults. A value given
explicitly is always kept; :meth:`TrainConfig.replace` with another architecture re-derives only the values
that were left to their default.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fittest.checks import integer, is_integer, is_number
from fittest.errors import InputError
from training.architectures import ARCHITECTURES
from training.fourier import check_p
from training.tasks import GROUP_NAMES, TASKS, Task, get_task

ACTIVATIONS = ("silu", "relu", "gelu", "tanh")
MLP_INITS = ("torch", "normal")
DTYPES = ("float32", "float64")
RECORD_SPACINGS = ("stride", "log")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


SEED_MAX = 2**63 - 1
"""The largest seed: seeds are stored as int64 coordinates of the run dataset."""


def _field(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    low: int | None = None,
    high: int | None = None,
    by_architecture: bool = False,
):
    """A config field with its meaning (``help``) and constraints declared where the field is.

    ``low`` (and optionally ``high``) make it an integer field in ``low..high``; a field whose default is None
    may also stay None. ``by_architecture``: the default is None, which takes the chosen architecture's value
    from :data:`~training.architectures.ARCHITECTURES` (the help says each architecture's value).
    """
    metadata: dict[str, Any] = {"help": help}
    if by_architecture:
        metadata["by_architecture"] = True
    if choices is not None:
        metadata["choices"] = choices
    if low is not None:
        metadata["low"] = low
    if high is not None:
        metadata["high"] = high
    return field(default=default, metadata=metadata)


# Tags that keep the embedding, MLP and split seed streams of one base seed apart.
_SEED_TAGS = {"embed": 0, "mlp": 1, "split": 2}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training experiment; two equal configs give identical records.

    Each field is declared once, with its meaning (``help``) and its constraints (``choices``, ``low``) as
    field metadata; the Arguments section below and the ``fittest train`` options are generated from them.
    """

    task: str = _field(
        "add",
        f"the operation learned: {', '.join(TASKS)} mod p (multiply needs a prime p), or the composition of"
        f" {GROUP_NAMES} (p is then the group's order)",
    )
    architecture: str = _field(
        "mlp",
        "the model: mlp (the paper's embedding-MLP) or transformer (Nanda et al.'s one-layer transformer); the"
        " fields whose default is 'by architecture' take its published values",
        choices=tuple(ARCHITECTURES),
    )
    p: int | None = _field(None, "the modulus: number of tokens, an integer >= 3", by_architecture=True)
    d: int = _field(128, "embedding dimension (the transformer's d_model)", low=1)
    runs: int = _field(4, "independent models in the ensemble (the run dimension)", low=1)
    steps: int | None = _field(None, "optimizer steps per model", low=1, by_architecture=True)
    lr: float | tuple[float, ...] | None = _field(
        None, "AdamW learning rate: one value, or one per run", by_architecture=True
    )
    weight_decay: float | tuple[float, ...] | None = _field(
        None, "AdamW decoupled weight decay on every parameter: one value, or one per run", by_architecture=True
    )
    betas: tuple[float, float] | None = _field(None, "AdamW's beta1 and beta2", by_architecture=True)
    train_frac: float | None = _field(
        None, "fraction of the p^2 pairs used for training (floor(train_frac p^2) pairs)", by_architecture=True
    )
    hidden: int | None = _field(
        None, "width of both hidden layers (the transformer's d_mlp)", low=1, by_architecture=True
    )
    activation: str | None = _field(
        None, "hidden activation (silu is the MLP authors' code)", choices=ACTIVATIONS, by_architecture=True
    )
    heads: int | None = _field(
        None, "attention heads of the transformer, each d / heads wide (the mlp has none)", low=1, by_architecture=True
    )
    mlp_init: str = _field(
        "torch",
        "MLP initialisation: torch (default Linear init, the authors' code) or normal (N(0, 1) for every weight"
        " and bias, the paper's appendix E)",
        choices=MLP_INITS,
    )
    device: str = _field("auto", "auto (CUDA when available, else the CPU), cpu, cuda, cuda:N or mps")
    dtype: str = _field("float32", "floating-point type of parameters and records", choices=DTYPES)
    seed: int = _field(0, "base seed of every per-run seed that is not fixed", low=0, high=SEED_MAX)
    embed_seed: int | None = _field(
        None, "one embedding shared by every run (default: each run draws its own)", low=0, high=SEED_MAX
    )
    mlp_seed: int | None = _field(
        None, "one MLP initialisation shared by every run (default: each run draws its own)", low=0, high=SEED_MAX
    )
    split_seed: int | None = _field(
        None, "one train/test split shared by every run (default: each run draws its own)", low=0, high=SEED_MAX
    )
    freeze_embedding: bool = _field(False, "keep the embedding at its initialisation: no step, no decay (section 3.1)")
    init_perturb: dict[int, float] | None = _field(
        None, "scale circles of the initial embedding, {k: factor} (section 3.2.1)"
    )
    init_keep: tuple[int, ...] | None = _field(
        None, "keep only these frequencies' circles in the initial embedding (appendix C)"
    )
    init_construct: dict[int, float] | None = _field(
        None,
        "build the initial embedding from circles, {k: amplitude ||F_k||} (not the signal ||F_k||^2; section"
        " 3.2.1, training.construct)",
    )
    construct_eps: float = _field(1e-6, "amplitude ||F_k|| of every frequency that init_construct leaves out")
    save_mlp: bool = _field(
        False,
        "store the model's other parameters (the MLP's, or the transformer's) at every embedding snapshot too (for"
        " replaying it: post-hoc ablation and measures)",
    )
    record_neurons: bool = _field(
        False,
        "also record neuron_signal, each first-layer neuron's input-weight power per frequency, at every record"
        " (hidden x K numbers per run and record: see memory_estimate)",
    )
    dense_until: int = _field(1000, "record every step from 0 to this one", low=0)
    record_every: int = _field(100, "after dense_until, record every this many steps (record_spacing stride)", low=1)
    record_spacing: str = _field(
        "stride", "after dense_until: a stride, or log-spaced records", choices=RECORD_SPACINGS
    )
    log_records: int = _field(200, "the number of log-spaced records after dense_until (record_spacing log)", low=1)
    snapshot_steps: tuple[int, ...] = _field(
        (0, 1000), "steps at which the whole embedding is stored (step 0 and the last step always are)"
    )
    checkpoint_every: int = _field(1000, "steps between checkpoints when a checkpoint file is given", low=1)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}")
        defaults = ARCHITECTURES[self.architecture].defaults
        explicit = []
        for name in BY_ARCHITECTURE:
            if getattr(self, name) is None:
                set_(self, name, defaults.get(name))
            else:
                explicit.append(name)
        set_(self, "_explicit", frozenset(explicit))  # what replace() keeps when the architecture changes
        task = get_task(self.task)
        if task.order is not None and "p" not in explicit:
            set_(self, "p", task.order)  # a group's tokens are its elements
        set_(self, "p", check_p(self.p))
        for spec in dataclasses.fields(self):
            if "low" in spec.metadata and not (spec.default is None and getattr(self, spec.name) is None):
                value = integer(spec.name, getattr(self, spec.name), spec.metadata["low"], spec.metadata.get("high"))
                set_(self, spec.name, value)
        for name in ("lr", "weight_decay"):
            set_(self, name, self._per_run(name, getattr(self, name), positive=name == "lr"))
        betas = _sequence("betas", self.betas)
        if len(betas) != 2 or not all(is_number(b) and 0 <= float(b) < 1 for b in betas):
            raise InputError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        set_(self, "betas", tuple(float(b) for b in betas))
        if not is_number(self.train_frac) or not 0 < float(self.train_frac) < 1:
            raise InputError(f"train_frac must be a number strictly between 0 and 1, got {self.train_frac!r}")
        set_(self, "train_frac", float(self.train_frac))
        if self.n_train < 1 or self.n_train >= self.p**2:
            raise InputError(
                f"train_frac={self.train_frac} leaves {self.n_train} of {self.p**2} pairs for training; "
                "choose a fraction that leaves both a train and a test set"
            )
        for spec in dataclasses.fields(self):
            allowed = spec.metadata.get("choices")
            if allowed is not None and getattr(self, spec.name) not in allowed:
                raise InputError(f"{spec.name} must be one of {', '.join(allowed)}; got {getattr(self, spec.name)!r}")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise InputError(f"device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}")
        for name in ("freeze_embedding", "save_mlp", "record_neurons"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
            set_(self, name, bool(getattr(self, name)))
        self.task_spec.check(self.p)
        self._check_architecture()
        interventions = [name for name in ("init_perturb", "init_keep", "init_construct") if getattr(self, name)]
        if interventions and self.task_spec.group != "additive":
            raise InputError(
                f"{', '.join(interventions)} act on additive Fourier circles, which task {self.task!r} does not "
                "use: leave them out or choose task add or subtract"
            )
        top = (self.p - 1) // 2
        if self.init_perturb is not None:
            set_(self, "init_perturb", self._frequency_map("init_perturb", self.init_perturb, top, positive=True))
        if self.init_construct is not None:
            set_(self, "init_construct", self._frequency_map("init_construct", self.init_construct, top))
        if self.init_keep is not None:
            keep = tuple(_frequency("init_keep", k, top) for k in _sequence("init_keep", self.init_keep))
            set_(self, "init_keep", keep)
        if not is_number(self.construct_eps) or float(self.construct_eps) < 0:
            raise InputError(f"construct_eps must be a number >= 0, got {self.construct_eps!r}")
        set_(self, "construct_eps", float(self.construct_eps))
        snaps = tuple(integer("snapshot_steps", s, 0) for s in _sequence("snapshot_steps", self.snapshot_steps))
        # kept as given (checked, sorted): the schedule adds the ends at use, so replace(steps=...) moves them
        set_(self, "snapshot_steps", tuple(sorted(set(snaps))))

    @property
    def snapshot_schedule(self) -> tuple[int, ...]:
        """The steps whose whole embedding is stored: ``snapshot_steps`` within the run, and step 0 and the last.

        Steps beyond the end are dropped rather than refused, so a short run keeps the default snapshots.
        """
        inside = (step for step in self.snapshot_steps if step <= self.steps)
        return tuple(sorted({0, self.steps, *inside}))

    def _check_architecture(self) -> None:
        """Refuse the options that the chosen architecture does not have, in one line each."""
        if self.architecture == "mlp":
            if self.heads is not None:
                raise InputError("heads is an option of the transformer; the mlp has no attention: leave heads out")
            return
        if self.d % self.heads:
            raise InputError(
                f"heads={self.heads} does not divide d={self.d}: each head is d / heads wide; choose heads among"
                " the divisors of d"
            )
        if self.record_neurons:
            raise InputError(
                "record_neurons records the MLP's first layer on [E_a, E_b], which the transformer does not have:"
                " leave record_neurons off"
            )
        if self.mlp_init != "torch":
            raise InputError(
                "mlp_init chooses the MLP's initialisation; the transformer always uses Nanda et al.'s"
                " (N(0, 1/d) weights, zero biases): leave mlp_init out"
            )

    def _per_run(self, name: str, value: object, *, positive: bool) -> float | tuple[float, ...]:
        ok = (lambda v: is_number(v) and float(v) > 0) if positive else (lambda v: is_number(v) and float(v) >= 0)
        bound = "> 0" if positive else ">= 0"
        if isinstance(value, list | tuple | np.ndarray):
            if len(value) != self.runs:
                raise InputError(f"{name} has {len(value)} values but runs={self.runs}: give one value or one per run")
            if not all(ok(v) for v in value):
                raise InputError(f"every {name} must be a number {bound}, got {value!r}")
            return tuple(float(v) for v in value)
        if not ok(value):
            raise InputError(f"{name} must be a number {bound} (or one per run), got {value!r}")
        return float(value)

    @staticmethod
    def _frequency_map(name: str, value: object, top: int, *, positive: bool = False) -> dict[int, float]:
        if not isinstance(value, dict) or not value:
            raise InputError(f"{name} must be a non-empty mapping frequency -> number, got {value!r}")
        out = {}
        for k, v in value.items():
            k = _frequency(name, int(k) if isinstance(k, str) and k.strip().isdigit() else k, top)
            if not is_number(v) or float(v) < 0 or (positive and float(v) == 0):
                raise InputError(f"{name}[{k}] must be a number {'> 0' if positive else '>= 0'}, got {v!r}")
            out[k] = float(v)
        return dict(sorted(out.items()))

    def per_run(self, name: str) -> np.ndarray:
        """The value of ``lr`` or ``weight_decay`` for every run, shape ``(runs,)``."""
        value = getattr(self, name)
        return np.asarray(value if isinstance(value, tuple) else [value] * self.runs, dtype=np.float64)

    def run_seeds(self, kind: str) -> np.ndarray:
        """The effective ``kind`` seed (``"embed"``, ``"mlp"`` or ``"split"``) of every run, shape ``(runs,)``.

        A fixed ``{kind}_seed`` is shared by every run; otherwise run r's seed is drawn from the base ``seed``,
        the kind and r, so that the three streams and the runs are independent of one another.
        """
        fixed = getattr(self, f"{kind}_seed")
        if fixed is not None:
            return np.full(self.runs, fixed, dtype=np.int64)
        tag = _SEED_TAGS[kind]
        return np.array(
            [int(np.random.SeedSequence([self.seed, tag, r]).generate_state(1)[0]) for r in range(self.runs)],
            dtype=np.int64,
        )

    @property
    def task_spec(self) -> Task:
        """The :class:`~training.tasks.Task` this config trains on: its labels and the basis of its circles."""
        return get_task(self.task)

    @property
    def n_train(self) -> int:
        """The number of training pairs, ``floor(train_frac p²)``."""
        return math.floor(self.train_frac * self.p**2)

    def to_json(self) -> str:
        """The configuration as JSON (frequency keys as strings); :meth:`from_json` reads it back."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The configuration stored by :meth:`to_json`.

        Raises:
            InputError: the text is not JSON of a configuration.
        """
        try:
            data: dict[str, Any] = json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise InputError(f"not a training configuration (invalid JSON): {error}") from None
        if not isinstance(data, dict):
            raise InputError("not a training configuration: JSON is not an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"not a training configuration this version knows: unknown fields {unknown}")
        for name in ("lr", "weight_decay", "betas", "init_keep", "snapshot_steps"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (and validated).

        The fields that depend on the architecture and were left to their default stay defaults: with another
        ``architecture`` they take its values, while those given explicitly keep theirs.
        """
        reset = {name: None for name in BY_ARCHITECTURE if name not in self._explicit and name not in changes}
        return dataclasses.replace(self, **{**reset, **changes})


def _sequence(name: str, value: object) -> tuple:
    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise InputError(f"{name} must be a sequence, got {value!r}")
    return tuple(value)


def _frequency(name: str, k: object, top: int) -> int:
    if not is_integer(k) or not 1 <= int(k) <= top:
        raise InputError(f"{name}: frequency {k!r} is not an integer in 1..{top}")
    return int(k)


BY_ARCHITECTURE = tuple(spec.name for spec in dataclasses.fields(TrainConfig) if spec.metadata.get("by_architecture"))
"""The fields whose default is the chosen architecture's (:data:`training.architectures.ARCHITECTURES`)."""


def _architecture_defaults(name: str) -> str:
    return ", ".join(f"{arch.name} {arch.defaults.get(name)!r}" for arch in ARCHITECTURES.values())


for _spec in dataclasses.fields(TrainConfig):
    if _spec.metadata.get("by_architecture"):  # the help states each architecture's default, for docs and --help
        _spec.metadata = types.MappingProxyType(
            {
                **_spec.metadata,
                "help": f"{_spec.metadata['help']} (default by architecture: {_architecture_defaults(_spec.name)})",
            }
        )


def _arguments_section(cls: type) -> str:
    lines = ["", "    Arguments:"]
    for spec in dataclasses.fields(cls):
        extra = f" One of {', '.join(spec.metadata['choices'])}." if "choices" in spec.metadata else ""
        default = "" if spec.metadata.get("by_architecture") else f" (default ``{spec.default!r}``)"
        lines.append(f"        {spec.name}: {spec.metadata['help']}{default}.{extra}")
    return "\n".join(lines) + "\n"


TrainConfig.__doc__ += _arguments_section(TrainConfig)


def record_count(config: TrainConfig) -> int:
    """An upper bound of the number of recorded steps (``training.engine.schedule.record_steps`` gives them)."""
    dense_end = min(config.dense_until, config.steps)
    if config.record_spacing == "stride":
        later = max(0, (config.steps - dense_end) // config.record_every)
    else:
        later = config.log_records
    return min(config.steps + 1, dense_end + 1 + later + 1)


def memory_estimate(config: TrainConfig, *, chunk: int = 1) -> dict[str, int]:
    """The bytes of memory that training ``config`` needs, by part, before anything is allocated.

    An estimate of the largest allocations, not a measurement: the parameters with AdamW's two moments and
    their gradients (and the float64 initial values), the p²-sized pair tables and splits, the activations of
    ``chunk`` runs trained at once, the records (with ``record_neurons`` also ``neuron_signal``'s hidden x K
    per record) and the snapshots (twice: the live tensors and the dataset),
    and the step schedule.

    Returns:
        part name -> bytes: ``parameters``, ``pair tables``, ``activations``, ``records``, ``snapshots``,
        ``schedule``.
    """
    item = 4 if config.dtype == "float32" else 8
    p, d, h, runs = config.p, config.d, config.hidden, config.runs
    architecture = ARCHITECTURES[config.architecture]
    per_run = architecture.parameters(config)
    splits = 1 if config.split_seed is not None else runs
    n_snap = len(config.snapshot_schedule)
    snapshot = p * d + (per_run - p * d if config.save_mlp else 0)
    # neuron_signal: hidden x K per record, the largest record by far when it is on
    neurons = h * ((p - 1) // 2) if config.record_neurons else 0
    return {
        "parameters": runs * per_run * (4 * item + 2 * 8),
        "pair tables": (3 + 1 + 3 * splits) * p * p * 8 + p * p * (8 + item),
        "activations": min(chunk, runs) * config.n_train * architecture.activations(config) * item * 2,
        "records": record_count(config) * runs * (architecture.curves * ((p - 1) // 2) + 4 + neurons) * item * 2,
        "snapshots": n_snap * runs * snapshot * item * 2,
        "schedule": (config.steps + 1) * 8 * 2,
    }


def output_estimate(config: TrainConfig) -> int:
    """About how many bytes the run dataset of ``config`` takes on disk (uncompressed: an upper bound)."""
    memory = memory_estimate(config)
    return (memory["records"] + memory["snapshots"]) // 2 + 64 * 1024

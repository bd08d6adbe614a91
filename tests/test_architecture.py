"""The house rules of ARCHITECTURE.md, checked on every import statement of the project (including those
inside functions): floors that import only downwards, no cycles, no private names across modules, and the
rooms that must stay free of torch or of ``training``."""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fittest", "training", "dynamics", "paper_figures")

# Lowest first. A module may import modules of its own floor or of a lower one, never of a higher one.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ground",
        ("fittest", "fittest.errors", "fittest.atomic", "fittest.progress", "fittest.checks", "fittest.provenance"),
    ),
    (
        "contract and maths",
        (
            "training.config",
            "training.architectures",
            "training.rundata",
            "training.tasks",
            "training.fourier",
            "training.interventions",
            "training.groups",
            "training.bases",
        ),
    ),
    ("dynamics", ("dynamics", "dynamics.*")),
    ("analysis", ("training.analysis", "training.analysis.*")),
    ("engine", ("training.engine", "training.engine.*")),
    ("sweeps", ("training.sweeps", "training.sweeps.*")),
    ("training API", ("training",)),
    ("paper figures", ("paper_figures", "paper_figures.*")),
    ("command line", ("fittest.cli", "fittest.cli.*")),
)
TORCH_ROOMS = ("training.engine", "training.engine.*")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


MODULES = project_modules()


def floor_of(module: str) -> int:
    for index, (_, patterns) in enumerate(FLOORS):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"{module} is on no floor: add it to FLOORS here and to ARCHITECTURE.md")


def imports(module: str) -> list[tuple[str, tuple[str, ...], int]]:
    """Every import in ``module``: (imported module, names taken from it, line), at any depth of the code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # `from training import interventions` imports the module training.interventions
                if f"{base}.{alias.name}" in MODULES:
                    found.append((f"{base}.{alias.name}", (), node.lineno))
                else:
                    found.append((base, (alias.name,), node.lineno))
    return found


def project_edges() -> list[tuple[str, str, tuple[str, ...], int]]:
    edges = []
    for module in MODULES:
        for target, names, line in imports(module):
            if target.split(".")[0] in PACKAGES:
                edges.append((module, target, names, line))
    return edges


EDGES = project_edges()


def test_every_module_is_on_a_floor_and_imports_only_downwards():
    upward = [
        f"{module}:{line} ({FLOORS[floor_of(module)][0]}) imports {target} ({FLOORS[floor_of(target)][0]})"
        for module, target, _, line in EDGES
        if floor_of(target) > floor_of(module)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, target, _, _ in EDGES:
        if target != module and target in graph:
            graph[module].add(target)
    # iterative depth-first search; a grey node met again closes a cycle
    colour = dict.fromkeys(graph, 0)
    for start in graph:
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        colour[start], path = 1, [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(child) :], child]))
            elif colour[child] == 0:
                colour[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))


def test_no_private_name_is_imported_from_another_module():
    private = [
        f"{module}:{line} takes {name} from {target}"
        for module, target, names, line in EDGES
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not private, "\n".join(private)


def test_rooms_keep_their_promises():
    broken = []
    for module, target, _, line in EDGES:
        where = f"{module}:{line} imports {target}"
        if module.startswith("dynamics") and target.split(".")[0] == "training":
            broken.append(f"{where}: dynamics is generic and never imports training")
        if target.startswith("fittest.cli") and not module.startswith("fittest.cli"):
            broken.append(f"{where}: nothing imports the command line")
        if module.startswith("paper_figures") and target.split(".")[0] in ("training", "dynamics") and "." in target:
            broken.append(f"{where}: the figures use the public API only (import training / import dynamics)")
    for module in MODULES:
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in TORCH_ROOMS):
            continue
        for target, _, line in imports(module):
            if target.split(".")[0] == "torch" and not module.startswith(("fittest.cli", "paper_figures")):
                broken.append(f"{module}:{line} imports torch outside training.engine")
    assert not broken, "\n".join(broken)


def test_the_checker_sees_imports_inside_functions():
    # the rules are only as good as the parser: a function-level import must count like a top-level one
    inside = [(target, line) for target, _, line in imports("fittest.cli.fit") if target == "dynamics"]
    assert inside, "the import inside fittest.cli.fit.run() was not seen"


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=300
    ).stdout


def test_analysis_of_a_saved_dataset_never_loads_torch():
    out = _python(
        "import sys, training\n"
        "ds = training.open_run('datasets/p59_d128_default.nc')\n"
        "alive = training.survivors(ds)\n"
        "training.count_survivors(ds); training.fitness(ds); training.top_circles(ds, 3)\n"
        "training.survival_rate(alive.rename(run='trial'), dim='trial')\n"
        "training.correlation(training.initial_amplitude(ds), alive.astype(float))\n"
        "print('torch' in sys.modules)\n"
    )
    assert out.strip() == "False"


def test_the_command_line_starts_without_the_heavy_libraries():
    # the measured start-up time is in the notes; here its cause is checked, which no load can make flaky
    out = _python(
        "import sys\n"
        "from fittest.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('torch', 'xarray', 'jax', 'sklearn', 'pysindy', 'matplotlib', 'dask', 'distributed', 'zarr')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.strip() == "[]"

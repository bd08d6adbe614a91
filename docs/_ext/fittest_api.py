"""A directive that writes one package's API reference from the package itself, and links it to the tutorials.

In an rst page, ``.. fittest-api:: training`` renders, in this order:

1. a summary table of the package's public names, its ``__all__``;
2. the full documentation of each of those names under the package's own name (``training.train``), which is
   how users import them;
3. one section per public submodule (``training.fourier``, ...) with the module's docstring and the public
   functions and classes it defines that the package does not re-export, so that nothing is documented twice.

Reading the package at build time means that a name added to ``__all__`` or a new submodule appears in the
reference without anyone editing these pages.

Every documented function, class and method that a tutorial's code uses also gets an "Examples" line that
links to those tutorials, whose code runs on every build: the examples cannot go stale.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# submodules that are implementation details of something documented elsewhere (the command line's page)
SKIP = {"fittest.cli"}


def public_names(module: ModuleType) -> list[str]:
    """The names a user of ``module`` is meant to use: its ``__all__``, else what it defines without a ``_``."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [name for name in names if not name.startswith("_")]
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    ]


def submodules(package: ModuleType) -> list[ModuleType]:
    found = []
    # the rooms of a package (training.analysis, training.engine) are walked into: their modules are listed
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or any(info.name.startswith(skip) for skip in SKIP):
            continue
        found.append(importlib.import_module(info.name))
    return sorted(found, key=lambda module: module.__name__)


def _is_code(obj: object) -> bool:
    return inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)


def summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, on one line (a whole paragraph keeps inline markup intact)."""
    if not _is_code(obj):
        # data such as a registry dict: its type's docstring ("dict() -> new empty dictionary") says nothing
        if isinstance(obj, dict):
            return "a ``dict`` with keys " + ", ".join(f"``{key}``" for key in obj)
        return f"a ``{type(obj).__name__}``"
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def summary_table(package_name: str, names: list[str], package: ModuleType) -> list[str]:
    lines = [".. list-table::", "   :class: fittest-api-summary", "   :widths: 30 70", ""]
    for name in names:
        lines += [f"   * - :py:obj:`~{package_name}.{name}`", f"     - {summary(getattr(package, name, None)) or ' '}"]
    return lines + [""]


def api_rst(package_name: str) -> list[str]:
    package = importlib.import_module(package_name)
    exported = public_names(package)
    lines = summary_table(package_name, exported, package) if exported else []
    # autodoc skips module-level data without a doc comment; an exported constant is public all the same
    data = [name for name in exported if not _is_code(getattr(package, name, None))]
    lines += [f".. automodule:: {package_name}", "   :members:"]
    lines += [f"   :exclude-members: {', '.join(data)}", ""] if data else [""]
    for name in data:
        # written out, not autodata: autodoc would show the docstring of the value's type (dict's, say)
        value = getattr(package, name)
        lines += [f".. py:data:: {name}", f"   :module: {package_name}", f"   :type: {type(value).__name__}", ""]
        lines += [f"   {summary(value)}", ""]
    # identity, not name: a submodule's member is skipped when the package re-exports that very object (small
    # immutable values are left out: equal ints or strings may share one object by accident)
    exported_objects = {
        id(obj)
        for name in exported
        if not isinstance(obj := getattr(package, name, None), str | int | float | bool | type(None))
    }
    sections = []
    for module in submodules(package) if hasattr(package, "__path__") else []:
        # a name a module re-exports from a sibling (kept importable from its old home) is documented at home:
        # documented here as well, it would give viewcode this module's prefix for the sibling's source page
        own = [
            name
            for name in public_names(module)
            if id(getattr(module, name, None)) not in exported_objects and _defined_in(module, name)
        ]
        if not own:  # everything it offers is documented above under the package's name
            continue
        skipped = sorted(
            name
            for name, obj in vars(module).items()
            if id(obj) in exported_objects or (not name.startswith("_") and not _defined_in(module, name))
        )
        title = f"``{module.__name__}``"
        sections += [title, "-" * len(title), "", f".. automodule:: {module.__name__}", "   :members:"]
        if skipped:
            sections += [f"   :exclude-members: {', '.join(skipped)}"]
        if module.__name__.rsplit(".", 1)[-1] in exported:  # e.g. the module fittest.progress and its function
            sections += ["   :no-index:"]
        sections += [""]
    return lines + sections


def _defined_in(module: ModuleType, name: str) -> bool:
    home = getattr(getattr(module, name, None), "__module__", None)
    return home is None or home == module.__name__ or not _is_code(getattr(module, name))


class FittestApi(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            lines = api_rst(name)
        except Exception as error:  # an unimportable package must fail a -W build loudly, not shrink the page
            return [self.state.document.reporter.error(f"fittest-api: cannot document {name!r}: {error!r}")]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=f"<fittest-api {name}>"), container)
        return container.children


PACKAGES = ("training", "dynamics", "fittest")
CODE_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)


def tutorial_usage(folder: Path) -> dict[str, list[str]]:
    """Which executed pages' code uses which public name: ``{"training.train": ["tutorials/01-...", ...]}``.

    A package-level name counts when the code spells ``package.name``; a method of an exported class counts when
    the code calls ``.method(`` (the tutorials call methods on the objects the package returns).
    """
    usage: dict[str, list[str]] = {}
    methods: dict[str, list[str]] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for name in public_names(package):
            obj = getattr(package, name, None)
            if inspect.isclass(obj):
                for method, member in vars(obj).items():
                    if not method.startswith("_") and inspect.isfunction(member):
                        methods.setdefault(method, []).append(f"{package_name}.{name}.{method}")
    for path in sorted([*folder.glob("*.md"), *folder.glob("tutorials/*.md")]):
        code = "\n".join(CODE_CELL.findall(path.read_text()))
        docname = path.relative_to(folder).with_suffix("").as_posix()
        # "from training import fourier" makes "fourier.signal" mean training.fourier.signal
        prefixes = {package: package for package in PACKAGES}
        for package_name, module in re.findall(rf"from ({'|'.join(PACKAGES)}) import (\w+)\n", code):
            if inspect.ismodule(getattr(importlib.import_module(package_name), module, None)):
                prefixes[module] = f"{package_name}.{module}"
        for prefix, name in re.findall(rf"\b({'|'.join(prefixes)})\.(\w+)", code):
            full = f"{prefixes[prefix]}.{name}"
            usage.setdefault(full, [])
            if docname not in usage[full]:
                usage[full].append(docname)
        for full in [key for key in usage if key.count(".") == 2 and docname in usage[key]]:
            # training.fourier.signal is documented as training.signal, the name the package exports
            package_name, module, name = full.split(".")
            package = importlib.import_module(package_name)
            same = getattr(package, name, None) is getattr(getattr(package, module), name, None)
            if name in public_names(package) and same:
                usage.setdefault(f"{package_name}.{name}", [])
                if docname not in usage[f"{package_name}.{name}"]:
                    usage[f"{package_name}.{name}"].append(docname)
        for method in set(re.findall(r"\.(\w+)\(", code)) & set(methods):
            for full in methods[method]:
                usage.setdefault(full, [])
                if docname not in usage[full]:
                    usage[full].append(docname)
    return usage


def _add_examples(app: Sphinx, what: str, name: str, obj: object, options, lines: list[str]) -> None:
    if what not in ("function", "class", "method") or not lines:
        return
    docs = app.env.fittest_tutorial_usage.get(name) if hasattr(app.env, "fittest_tutorial_usage") else None
    if docs:
        links = ", ".join(f":doc:`/{doc}`" for doc in docs)
        lines += ["", f"**Examples:** {links}.", ""]


def _scan(app: Sphinx) -> None:
    app.env.fittest_tutorial_usage = tutorial_usage(Path(app.srcdir))


def _package_anchors(app: Sphinx, doctree: nodes.document) -> None:
    """Give every object documented under its module (``training.engine.loop.resolve_device``) the anchor of its
    package too (``training.resolve_device``), when no other object on the page has it.

    viewcode keeps one anchor prefix per source module, taken from the first object of that module on the
    page; when that object is a package export (``training.train``), the source page's "[docs]" links of the
    module's other objects point at ``training.<name>``, which without this alias lands at the page's top.
    """
    for signature in doctree.findall(addnodes.desc_signature):
        module, fullname = signature.get("module") or "", signature.get("fullname")
        package = module.split(".")[0]
        if package not in PACKAGES or module == package or not fullname:
            continue
        alias = f"{package}.{fullname}"
        if alias not in doctree.ids:
            signature["ids"].append(alias)
            doctree.ids[alias] = signature


def setup(app: Sphinx) -> dict:
    app.add_directive("fittest-api", FittestApi)
    app.connect("doctree-read", _package_anchors)
    app.connect("builder-inited", _scan)
    app.connect("autodoc-process-docstring", _add_examples)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

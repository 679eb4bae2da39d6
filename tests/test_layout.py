"""The package's shape, read from its source: sizes a newcomer can hold in their head, no import
cycle, and layers that import downward only (ARCHITECTURE.md draws them).

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "kbatch"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60

#: Each module's layer, by the longest matching name: a module may import only modules of a lower
#: layer, or modules of its own subpackage (within which cycles are still refused).
LAYERS: dict[str, int] = {
    "kbatch.__main__": 9,
    "kbatch": 8,  # the package's public names
    "kbatch.docsite": 8,  # the docs site's generated pages: over the whole library, the CLI too
    "kbatch.cli": 7,
    "kbatch.run": 6,
    "kbatch.intake": 6,  # what a run takes in from its manifest, before the state
    "kbatch.reconciliation": 6,  # the state brought in line with the manifest before a run
    "kbatch.preview": 6,  # the dry run, beside the run
    "kbatch.engine": 5,
    "kbatch.reports": 5,  # reports read the store, never the engine
    "kbatch.manifest": 4,
    "kbatch.provider.connect": 3,  # may start the simulator
    "kbatch.simulator": 2,
    "kbatch.store": 2,
    "kbatch.provider": 2,  # the client and its auth
    "kbatch.provider.wire": 1,
    "kbatch.provider.made": 1,  # what a record kind makes, read from its result (wire's)
    "kbatch.provider.config": 1,
    "kbatch.manifest.issues": 1,
    "kbatch.images": 0,
    "kbatch.checked": 0,  # image checks remembered across runs
    "kbatch.movie": 0,  # an MP4/MOV header read from a few bytes
    "kbatch.videos": 0,  # video URLs checked before paying
    "kbatch.media": 1,  # local files sent by URL: settings, content addresses, local checks
    "kbatch.pricing": 1,
    "kbatch.blockprices": 0,  # the building blocks' prices (pricing's)
    "kbatch.errors": 0,
    "kbatch.version": 0,
    "kbatch.words": 0,  # a count with its noun in the right number
    "kbatch.sounds": 0,  # sound files sent (avatar, lip-sync): checked and read locally
    "kbatch.provider.catalogue": 0,
    "kbatch.provider.capabilities": 0,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def layer(module: str) -> int:
    name = module
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


def package(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports(module: str) -> Iterator[tuple[str, int]]:
    """The kbatch modules ``module`` imports, anywhere in it, with the line."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kbatch":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "kbatch":
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield (submodule if submodule in MODULES else node.module), node.lineno


GRAPH = {module: sorted({target for target, _ in imports(module)}) for module in MODULES}


def spans(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            yield "class", node.name, node.end_lineno - node.lineno + 1  # type: ignore[operator]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield "function", node.name, node.end_lineno - node.lineno + 1  # type: ignore[operator]


def test_modules_classes_and_functions_stay_small() -> None:
    too_big = []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{module}: {lines} lines (at most {MAX_MODULE_LINES})")
        for what, name, size in spans(ast.parse(text)):
            limit = MAX_CLASS_LINES if what == "class" else MAX_FUNCTION_LINES
            if size > limit:
                too_big.append(f"{module}: {what} {name} is {size} lines (at most {limit})")
    assert too_big == []


def test_there_is_no_import_cycle() -> None:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for target in GRAPH.get(module, []):
            visit(target, [*trail, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])
    assert cycles == []


def test_layers_import_downward_only() -> None:
    upward = []
    for module in MODULES:
        for target, line in imports(module):
            same_package = package(module) == package(target) or target.startswith(
                package(module) + "."
            )
            if layer(target) >= layer(module) and not same_package:
                upward.append(f"{MODULES[module].relative_to(REPO)}:{line}: {module} -> {target}")
    assert upward == []


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("kbatch.reports.model", "kbatch.engine.scheduler"),
        ("kbatch.provider.client", "kbatch.simulator"),
        ("kbatch.provider.client", "kbatch.manifest.loader"),
        ("kbatch.engine.scheduler", "kbatch.run"),
        ("kbatch.store.sqlite", "kbatch.engine.job"),
    ],
)
def test_the_rules_name_the_imports_that_must_not_be(module: str, target: str) -> None:
    """The rules above would catch these: each runs upward or sideways across the layers."""
    assert layer(target) >= layer(module)
    assert package(module) != package(target)


def test_architecture_md_names_only_modules_that_exist_and_every_module() -> None:
    """The newcomer's table (a behaviour -> its module) stays true as files move."""
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    named = set(re.findall(r"`([a-z0-9_]+(?:/[a-z0-9_]+)?\.py)`", "\n".join(table)))
    # A row may name a subpackage's files after its first, without the folder again.
    named |= {f"simulator/{name}" for name in named if "/" not in name}
    files = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert {name for name in named if "/" in name and not name.startswith("simulator/")} <= files
    unnamed = {f for f in files if not f.endswith("__init__.py")} - named
    assert unnamed <= {"__main__.py", "version.py"}, sorted(unnamed)


#: The modules of the shared state in PostgreSQL: the only ones under kbatch/store that may reach
#: its driver or its schema, so that a run on a state file never loads either.
POSTGRES_MODULES = {
    f"kbatch.store.{name}" for name in ("postgres", "pgschema", "ledger", "claims", "runner")
}


def imported_names(module: str) -> Iterator[tuple[str, int]]:
    """Every module ``module`` imports, kbatch's or not, anywhere in it, with the line."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def test_only_the_postgresql_modules_of_the_store_import_its_driver_or_schema() -> None:
    reaching = []
    for module in MODULES:
        if not module.startswith("kbatch.store.") or module in POSTGRES_MODULES:
            continue
        for name, line in imported_names(module):
            if name.split(".")[0].startswith("psycopg") or name == "kbatch.store.pgschema":
                reaching.append(f"{MODULES[module].relative_to(REPO)}:{line}: {name}")
    assert reaching == []


def test_a_state_file_loads_nothing_of_postgresql() -> None:
    script = (
        "import sys, kbatch.store.sqlite; "
        "print(sorted(m for m in sys.modules if m.startswith('psycopg') "
        "or m == 'kbatch.store.pgschema'))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def test_the_engine_knows_providers_only_by_their_protocol() -> None:
    """The engine asks a :class:`kbatch.provider.protocol.Provider`: it never imports the HTTP
    client (Kling's /v1 routes, the gateways and the new API are implementations of it)."""
    reaching = [
        f"{MODULES[module].relative_to(REPO)}:{line}: {target}"
        for module in MODULES
        if module.startswith("kbatch.engine")
        for target, line in imports(module)
        if target.startswith(("kbatch.provider.client", "kbatch.provider.paths"))
        or target.startswith(("kbatch.provider.surfaces", "kbatch.provider.exchange"))
    ]
    assert reaching == []


def test_no_module_squeezes_itself_under_the_limits() -> None:
    """The size limits are met by splitting along real seams, not by folding code into lines the
    formatter is told to leave alone."""
    squeezed = [
        f"{path.relative_to(REPO)}:{number}"
        for path in MODULES.values()
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "fmt: skip" in text or "fmt: off" in text
    ]
    assert squeezed == []

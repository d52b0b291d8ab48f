"""The engine's boundaries, read from its syntax trees (so an import or a read inside a
function counts as much as one at the top of a module):

- ``platform/tickflow`` never imports Dagster or the Dagster layer (``definitions``,
  ``assets``, ``sensors``, ``resources``, ``demo``);
- only ``tickflow/config.py`` reads the process environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "platform" / "tickflow"
DAGSTER_SIDE = ("definitions", "assets", "sensors", "resources", "demo")


def _forbidden(name: str) -> bool:
    top = name.split(".")[0]
    return top.startswith("dagster") or top in DAGSTER_SIDE


def dagster_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of Dagster or the Dagster layer in ``source``: import
    statements anywhere (functions included) and ``importlib.import_module`` /
    ``__import__`` calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if fname in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [(getattr(node, "lineno", 0), n) for n in names if _forbidden(n)]
    return found


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every use of ``os.environ``, ``os.getenv`` / ``os.putenv`` and
    their bare imported names in ``source``."""
    found = []
    tree = ast.parse(source)
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "os"
                for a in n.names if a.name in ("environ", "getenv", "putenv", "unsetenv")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv", "putenv", "unsetenv", "environb"):
            found.append((node.lineno, f"os.{node.attr}"))
        elif isinstance(node, ast.Name) and node.id in imported:
            found.append((node.lineno, node.id))
    return found


def _modules() -> list[Path]:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 40, "the engine's modules were not found"
    return files


def test_the_engine_never_imports_dagster() -> None:
    bad = {str(p.relative_to(ENGINE)): hits for p in _modules() if (hits := dagster_imports(p.read_text()))}
    assert not bad, f"the engine imports the Dagster side: {bad}"


def test_only_config_reads_the_environment() -> None:
    bad = {str(p.relative_to(ENGINE)): hits for p in _modules()
           if p != ENGINE / "config.py" and (hits := environment_reads(p.read_text()))}
    assert not bad, f"environment read outside tickflow/config.py: {bad}"
    assert environment_reads((ENGINE / "config.py").read_text()), "config.py no longer reads the environment?"


@pytest.mark.parametrize("source", [
    "def f():\n    from dagster import DagsterInstance\n",
    "def f():\n    import definitions\n",
    "import dagster_postgres\n",
    "from assets.bars import bars\n",
    "def f():\n    import importlib\n    importlib.import_module('resources.tickflow')\n",
    "from demo.run import run_demo\n",
])
def test_the_import_scan_sees_function_level_imports(source: str) -> None:
    assert dagster_imports(source)


@pytest.mark.parametrize("source", [
    "import os\ndef f():\n    return os.environ.get('X')\n",
    "import os\nos.getenv('X')\n",
    "from os import environ\nenviron['X'] = '1'\n",
    "import os\ndef f(env=None):\n    return {**os.environ}\n",
])
def test_the_environment_scan_sees_reads_and_writes(source: str) -> None:
    assert environment_reads(source)


def test_the_scans_pass_clean_code() -> None:
    src = "import os.path\nfrom tickflow.config import load_settings\nx = os.path.join('a', 'b')\n"
    assert not dagster_imports(src) and not environment_reads(src)

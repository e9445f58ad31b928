"""The package is a one-way stack: no module imports a layer above its own, and data preparation
runs without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ctrkit"

# bottom to top; a module may import its own layer and the layers below it
LAYERS = [
    {"errors"},
    {"io"},
    {"features"},
    {"data"},
    {"datasets"},
    {"nn"},
    {"models"},
    {"inference"},
    {"train"},
    {"config"},
    {"runs"},
    {"experiment"},
    {"api", "report", "serve", "tune"},
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
    """The layer of a dotted module path inside ctrkit: its first component."""
    return module.split(".")[0]


def _module_parts(path: Path):
    """``src/ctrkit/io/store.py`` → [ctrkit, io, store]; a package's ``__init__`` keeps its name."""
    return list(path.relative_to(SRC.parent).with_suffix("").parts)


def _imports(text: str, parts):
    """(line, ctrkit module imported) for every import in the source ``text`` of the module
    ``parts``, wherever it stands (module level or inside a function)."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[:len(parts) - node.level]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif node.module and node.module.split(".")[0] == "ctrkit":
                names = [node.module]
            else:
                continue
            for name in names:
                yield node.lineno, name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ctrkit":
                    yield node.lineno, alias.name


def test_every_module_is_in_a_layer():
    layers = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.rglob("*.py")}
    assert layers - set(RANK) == set(), "a new top-level module needs a place in LAYERS"


def test_no_import_runs_back_up():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        own = _layer(str(path.relative_to(SRC).with_suffix("")).replace("/", "."))
        for line, module in _imports(path.read_text(), _module_parts(path)):
            assert module.startswith("ctrkit"), (path, module)
            target = module.split(".", 1)[1] if "." in module else "__init__"
            if RANK[_layer(target)] > RANK[own]:
                upward.append(f"{path.relative_to(SRC.parent)}:{line} imports {module} ({own} is below {_layer(target)})")
    assert not upward, "\n".join(upward)


def test_the_walk_sees_relative_and_function_level_imports():
    code = "import os\nfrom ..errors import DataError\n\ndef f():\n    from ..models import build_model\n"
    found = list(_imports(code, ["ctrkit", "io", "store"]))
    assert found == [(2, "ctrkit.errors"), (5, "ctrkit.models")]
    assert RANK[_layer("models")] > RANK[_layer("io")]      # the second one would be reported


@pytest.mark.parametrize("argv", [
    ["prepare", "--dataset", "adult", "--out", "{tmp}/adult"],
    ["schema", "--data", "{tmp}/rows.csv", "--label", "y"],
])
def test_data_preparation_does_not_import_torch(tmp_path, argv):
    (tmp_path / "rows.csv").write_text("y,a,b\n1,x,3\n0,z,4\n1,x,5\n")
    args = [a.format(tmp=tmp_path) for a in argv]
    code = ("import sys, runpy; sys.argv = ['ctrkit', *sys.argv[1:]];\n"
            "from ctrkit.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)")
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-2:] == ["NO-TORCH", "0"], run.stdout[-2000:]


def test_reading_a_config_does_not_import_the_trainer():
    code = ("import sys; from ctrkit.config import default_config, dump_config, set_key; c = default_config();"
            "set_key(c, 'train.lr', 0.01); dump_config(c);"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('ctrkit.train.trainer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""The house: folders whose imports point one way, small rooms, the public names, and 0.3's files still loading."""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import slca_min
from slca_min.cli.main import main

PACKAGE = Path(slca_min.__file__).parent
REPO = PACKAGE.parent
MODEL = {"slca", "gates", "backbones", "classifier", "train"}  # the paper's model and loop, at the top
MAY_IMPORT = {  # each room and the rooms it may import (docs/layout.md draws it)
    "utils": set(), "imagenet_standin": set(), "slca": set(), "gates": set(),
    "sam": {"utils"}, "backbones": {"imagenet_standin", "utils"}, "train": {"utils"},
    "data": {"sam", "utils"}, "classifier": {"backbones", "gates", "slca", "sam"},
    "pipeline": MODEL | {"sam", "data", "utils"}, "study": MODEL | {"sam", "data", "pipeline", "utils"},
    "cli": MODEL | {"sam", "data", "pipeline", "study", "utils"},
    "exercises": MODEL | {"sam", "data", "study", "utils"},
}
V0_3 = "2d4c945"  # the commit that made version 0.3.0


def room(module: str) -> str:
    """slca_min.sam.encoder -> "sam"; slca_min.train -> "train"; __main__.py is the CLI's door, so "cli"."""
    name = module.split(".")[1] if "." in module else "__init__"
    return "cli" if name == "__main__" else name


def import_graph() -> dict[str, set[str]]:
    """Room -> the rooms it imports, read from every import statement in the package (those inside functions too)."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        package = parts if parts[-1] == "__init__" else parts[:-1]
        package = [p for p in package if p != "__init__"]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
            elif (node.module or "").startswith("slca_min"):
                targets = [node.module]
            else:
                continue
            me = room(".".join(parts))
            edges.setdefault(me, set()).update(room(t) for t in targets if room(t) != me)
    return edges


def test_imports_point_one_way_in_at_most_six_layers():
    edges = import_graph()
    edges.pop("__init__")  # the public API: the facade that re-exports, not a room
    for name, targets in edges.items():
        assert targets <= MAY_IMPORT[name], f"{name} imports {sorted(targets - MAY_IMPORT[name])}"
    layer: dict[str, int] = {}

    def depth(name: str, seen: tuple = ()) -> int:
        assert name not in seen, f"import cycle: {' -> '.join(seen + (name,))}"
        if name not in layer:
            layer[name] = 1 + max((depth(t, seen + (name,)) for t in edges.get(name, ())), default=0)
        return layer[name]

    assert max(depth(name) for name in MAY_IMPORT) <= 6, layer


def test_rooms_are_small_and_every_subpackage_says_what_it_holds():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 300, f"{path.relative_to(REPO)}: over 300 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno - node.lineno < 120, f"{path.relative_to(REPO)}: class {node.name} over 120 lines"
    for init in PACKAGE.glob("*/__init__.py"):
        assert "import" in ast.get_docstring(ast.parse(init.read_text())).lower(), f"{init}: say what it may import"


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
def test_no_file_of_the_package_is_ignored_by_git():
    """A .gitignore line like `data/` would hide slca_min/data/__init__.py from every clone."""
    files = [str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")]
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--no-index", *files], capture_output=True,
                             text=True).stdout.split()
    assert not ignored, f"ignored by .gitignore: {ignored}"


def test_every_public_name_and_the_command_line():
    namespace: dict = {}
    exec("from slca_min import *", namespace)
    assert set(slca_min.__all__) <= namespace.keys()
    out = subprocess.run([sys.executable, "-m", "slca_min", "--help"], capture_output=True, text=True, check=True).stdout
    assert "demo" in out and "lowdata" in out


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git history")
def test_a_model_and_a_cache_written_by_0_3_still_load(workdir, capsys):
    """0.3's own code (from git history) trains into r/ and fills cache/; today's evaluate reads both."""
    old = workdir / "v0.3"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", V0_3, "slca_min"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "slca_min", "train", "--data", "p.npz", "--out", "r", "--epochs", "1",
                    "--image-size", "32", "--batch-size", "16", "--grid", "4", "--quiet"],
                   env={**os.environ, "PYTHONPATH": str(old)}, cwd=workdir, check=True, capture_output=True)
    assert not (old / "slca_min/sam").exists()  # 0.3's layout: one folder
    then = json.loads((workdir / "r/results.json").read_text())
    assert main(["evaluate", "--data", "p.npz", "--model", "r/model.pt", "--grid", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("reusing cache") == 3  # 0.3's cache entries, under 0.3's names
    now = next(line.split()[1:] for line in out.splitlines() if line.startswith("slca "))
    assert [float(x) for x in now] == pytest.approx([then[m] for m in ("acc", "balanced_acc", "auc", "f1_macro")],
                                                    abs=1e-3)

"""The student version of an exercise notebook: nbgrader's markers honoured, so that it is generated, never edited.

In code cells the lines from `### BEGIN SOLUTION` to `### END SOLUTION` become nbgrader's stub
(`# YOUR CODE HERE` / `raise NotImplementedError()`, at the marker's indentation); in Markdown cells they
become `YOUR ANSWER HERE`. `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` are removed, and so are all
outputs; cells nbgrader locks are marked uneditable. The same source notebooks work with nbgrader itself
(`nbgrader generate_assignment`), whose cell sources this reproduces exactly (docs/exercises.md).
"""
from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from ..utils.files import atomic_write, locked

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CODE_STUB, TEXT_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"], ["YOUR ANSWER HERE"]


def cut(lines: list[str], markers: tuple[str, str], stub: list[str] | None, where: str) -> list[str]:
    """`lines` with every marked region replaced by `stub` (indented like its BEGIN line), or dropped (stub None)."""
    out, inside = [], False
    for line in lines:
        marker = line.strip()
        if marker == markers[0]:
            if inside:
                raise ValueError(f"{where}: '{markers[0]}' twice without '{markers[1]}' in between")
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            out += [indent + s for s in stub or []]
        elif marker == markers[1]:
            if not inside:
                raise ValueError(f"{where}: '{markers[1]}' without '{markers[0]}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{markers[0]}' is never closed by '{markers[1]}'")
    return out


def student_version(notebook: dict, name: str = "notebook") -> dict:
    """A copy of `notebook` (nbformat JSON as a dict) with solutions, hidden tests and outputs removed."""
    notebook = json.loads(json.dumps(notebook))
    for i, cell in enumerate(notebook["cells"]):
        where = f"{name}, cell {i}"
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = cut(source.split("\n"), HIDDEN, None, where)
        lines = cut(lines, SOLUTION, CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB, where)
        cell["source"] = "\n".join(lines)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        grading = cell["metadata"].get("nbgrader")
        if grading:  # as nbgrader's LockCells: instructions and checks cannot be edited, no graded cell deleted
            cell["metadata"].update({"deletable": False, **({"editable": False} if grading.get("locked") else {})})
    return notebook


def read_notebook(path: Path) -> dict:
    """A notebook's JSON, or a ValueError naming the file and what is wrong with it."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); open it in Jupyter and save it again") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"{path}: not a Jupyter notebook (no list of cells); save it from Jupyter or leave it out")
    for i, cell in enumerate(cells):
        missing = [k for k in ("cell_type", "source", "metadata") if not isinstance(cell, dict) or k not in cell]
        if missing:
            raise ValueError(f"{path}: cell {i} has no {', '.join(missing)}: not a valid notebook; save it from Jupyter")
    return notebook


def release(source: str | Path, out: str | Path, *, overwrite: bool = False) -> list[tuple[Path, str]]:
    """Write the student version of every notebook under `source` to the same place under `out`: all of them or,
    when any fails, none. A notebook already under `out` that differs from what would be written (a student's
    work, or an older release) is never replaced unless `overwrite`: the release is refused, naming it.
    Returns (path, "wrote" | "unchanged") for each notebook."""
    source, out = Path(source), Path(out)
    notebooks = sorted(source.rglob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{source}: no notebooks here; pass the folder of the solution notebooks")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise ValueError(f"--out {out}: would write inside the solutions' folder; choose another folder")
    texts = {out / path.relative_to(source): json.dumps(student_version(read_notebook(path), path.name), indent=1) + "\n"
             for path in notebooks}  # every notebook converted before anything is written
    with locked(out / ".release"):  # two releases into one folder: one after the other
        changed = {target: text for target, text in texts.items()
                   if not (target.is_file() and target.read_text(encoding="utf-8", errors="replace") == text)}
        differing = [target for target in changed if target.exists()]
        if differing and not overwrite:
            raise FileExistsError(f"{', '.join(map(str, differing))}: differs from the student version (a student's "
                                  "work?); nothing was written: move it away, choose another --out, or pass --overwrite")
        with ExitStack() as stack:  # every file staged first, then each one renamed into place
            for target, text in changed.items():
                stack.enter_context(atomic_write(target)).write_text(text, encoding="utf-8")
    return [(target, "wrote" if target in changed else "unchanged") for target in texts]

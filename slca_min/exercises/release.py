"""The student version of an exercise notebook: nbgrader's markers honoured, so that it is generated, never edited.

In code cells the lines from `### BEGIN SOLUTION` to `### END SOLUTION` become nbgrader's stub
(`# YOUR CODE HERE` / `raise NotImplementedError()`, at the marker's indentation); in Markdown cells they
become `YOUR ANSWER HERE`. `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` are removed, and so are all
outputs; cells nbgrader locks are marked uneditable. The same source notebooks work with nbgrader itself
(`nbgrader generate_assignment`), whose cell sources this reproduces exactly (docs/exercises.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..utils.files import atomic_write

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


def release(source: str | Path, out: str | Path) -> list[Path]:
    """Write the student version of every notebook under `source` to the same place under `out`."""
    source, out = Path(source), Path(out)
    notebooks = sorted(source.rglob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{source}: no notebooks here; pass the folder of the solution notebooks")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise ValueError(f"--out {out}: would write inside the solutions' folder; choose another folder")
    written = []
    for path in notebooks:
        target = out / path.relative_to(source)
        with atomic_write(target) as tmp:
            tmp.write_text(json.dumps(student_version(json.loads(path.read_text()), path.name), indent=1) + "\n")
        written.append(target)
    return written

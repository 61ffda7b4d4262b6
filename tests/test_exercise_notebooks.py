"""The exercise notebooks: each runs end to end with its solutions (quick mode), and the generated student
version is the solution version minus the solutions, running up to its first TODO."""
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from slca_min.exercises.__main__ import main
from slca_min.exercises.release import CODE_STUB, HIDDEN, SOLUTION, TEXT_STUB, release, student_version

SOURCE = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "source"
NOTEBOOKS = sorted(SOURCE.rglob("*.ipynb"))
STUBS = {s.strip() for s in CODE_STUB + TEXT_STUB}


def outside_markers(lines: list[str]) -> list[str]:
    """The lines a student sees unchanged: everything outside solution regions and hidden tests."""
    kept, inside = [], False
    for line in lines:
        if line.strip() in (SOLUTION[0], HIDDEN[0]):
            inside = True
        elif line.strip() in (SOLUTION[1], HIDDEN[1]):
            inside = False
        elif not inside:
            kept.append(line)
    return kept


def test_the_student_version_is_the_solution_version_minus_the_solutions(tmp_path):
    assert [p.name for p in NOTEBOOKS] == ["01_implement_slca.ipynb", "02_region_pooling.ipynb",
                                           "03_controlled_comparison.ipynb"]
    assert main([str(SOURCE), "--out", str(tmp_path / "release")]) == 0
    for path in NOTEBOOKS:
        solution = json.loads(path.read_text())
        student = json.loads((tmp_path / "release" / path.relative_to(SOURCE)).read_text())
        assert len(student["cells"]) == len(solution["cells"])
        regions = 0
        for s, t in zip(solution["cells"], student["cells"]):
            assert s["cell_type"] == t["cell_type"] and s["metadata"]["nbgrader"] == t["metadata"]["nbgrader"]
            assert t["metadata"].get("editable", True) == (not s["metadata"]["nbgrader"]["locked"])
            s_lines, t_lines = "".join(s["source"]).split("\n"), "".join(t["source"]).split("\n")
            assert [line for line in t_lines if line.strip() not in STUBS] == outside_markers(s_lines)
            answers = set(s_lines) - set(outside_markers(s_lines)) - {""}
            assert not answers & set(t_lines), f"{path.name}: a solution line reached the student"
            regions += "### BEGIN SOLUTION" in "".join(s["source"])
            if t["cell_type"] == "code":
                assert t["outputs"] == [] and t["execution_count"] is None
        assert regions >= 3, path.name  # every notebook has work to do


def test_unbalanced_markers_and_a_bad_folder_are_refused(tmp_path, capsys):
    cell = {"cell_type": "code", "source": "x = 1\n### BEGIN SOLUTION\ny = 2", "metadata": {}, "outputs": []}
    with pytest.raises(ValueError, match="cell 0: '### BEGIN SOLUTION' is never closed"):
        student_version({"cells": [cell]}, "ex.ipynb")
    assert main([str(SOURCE), "--out", str(SOURCE / "release")]) == 2
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "inside the solutions' folder" in err and "no notebooks here" in err
    assert not (SOURCE / "release").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_runs_with_its_solutions_and_its_student_version_stops_at_the_first_todo(
        path, tmp_path, monkeypatch, backbone_miniature):
    monkeypatch.setenv("SLCA_QUICK", "1")  # and the quick stand-ins ($SLCA_MINIATURE, $SLCA_BACKBONE_MINIATURE)
    monkeypatch.setenv("SLCA_ROOT", str(tmp_path))  # data, cache and runs; the student run reuses what the first made
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def run(notebook):
        NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    solution = nbformat.read(path, as_version=4)
    run(solution)
    assert sum("passed:" in o.get("text", "") for cell in solution.cells for o in cell.get("outputs", [])) >= 2
    (tmp_path / "release").mkdir()
    release(path.parent, tmp_path / "release")
    student = nbformat.read(tmp_path / "release" / path.name, as_version=4)
    with pytest.raises(CellExecutionError) as stopped:
        run(student)
    assert stopped.value.ename == "NotImplementedError"
    first_todo = next(i for i, c in enumerate(student.cells) if c.cell_type == "code" and "# YOUR CODE HERE" in c.source)
    first_check = next(i for i, c in enumerate(student.cells) if i > first_todo and c.metadata.nbgrader["grade"])
    errors = [i for i, c in enumerate(student.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert len(errors) == 1 and first_todo <= errors[0] <= first_check  # the TODO itself, or the check that calls it

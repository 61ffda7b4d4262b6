"""Every tutorial notebook runs in quick mode without error (so the notebooks never drift from the code), and the
outputs committed with it come from this version's default mode (notebooks/run_all.py)."""
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_four_small_notebooks_with_outputs_of_this_version():
    from slca_min.pipeline.model_file import LIBRARY_VERSION

    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]
    for path in NOTEBOOKS:  # committed with the outputs of notebooks/run_all.py: default mode, this library version
        notebook = nbformat.read(path, as_version=4)
        assert path.stat().st_size < 1_000_000, path.name
        assert notebook.metadata.get("slca_min") == {**notebook.metadata.get("slca_min", {}), "library": LIBRARY_VERSION,
                                                     "mode": "default"}, f"{path.name}: rerun notebooks/run_all.py"
        assert all(cell.outputs for cell in notebook.cells if cell.cell_type == "code"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch, backbone_miniature):
    monkeypatch.setenv("SLCA_QUICK", "1")  # and the quick stand-ins ($SLCA_MINIATURE, $SLCA_BACKBONE_MINIATURE)
    monkeypatch.setenv("SLCA_ROOT", str(tmp_path))  # data, cache and runs go to a temporary folder
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("all checks passed" in o.get("text", "") for o in outputs)


SOURCE = re.compile(r"docs/|benchmarks/|README|paper|Gu et al|MedMNIST|arXiv|\.csv|notebook 0\d", re.IGNORECASE)


def unsourced_numbers(notebook) -> list[str]:
    """Decimal numbers in markdown that no output of the notebook shows and whose sentence names no source."""
    outputs = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                       for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    shown = set(re.findall(r"\d+\.\d+", outputs))
    missing = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"```.*?```|`[^`]*`", "", cell.source, flags=re.DOTALL)  # code is an instruction, not a claim
        for sentence in re.split(r"(?<=[.!?:])\s+(?=[A-Z*(`-])|\n", prose):
            for number in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", sentence):
                if number not in shown and not SOURCE.search(sentence):
                    missing.append(f"{number} in: {sentence.strip()[:120]}")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_an_output_or_names_its_source(path):
    assert unsourced_numbers(nbformat.read(path, as_version=4)) == []


def test_the_prose_check_can_fail():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("The probe reaches about 0.65 AUC."),
                                               nbformat.v4.new_markdown_cell("MedMNIST reports 0.891 at 224 px."),
                                               nbformat.v4.new_markdown_cell("Try `FitConfig(lr=0.003)`."),
                                               nbformat.v4.new_code_cell("print(0.721)")])
    notebook.cells[3].outputs = [nbformat.v4.new_output("stream", text="0.721\n")]
    assert unsourced_numbers(notebook) == ["0.65 in: The probe reaches about 0.65 AUC."]
    notebook.cells[0].source = "The probe reaches 0.721 AUC."
    assert unsourced_numbers(notebook) == []

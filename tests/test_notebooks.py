"""Every tutorial notebook runs in quick mode without error (so the notebooks never drift from the code), and the
outputs committed with it come from this version's default mode (notebooks/run_all.py)."""
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

"""Every tutorial notebook runs in quick mode without error (so the notebooks never drift from the code), and the
outputs committed with it come from this version's default mode (notebooks/run_all.py)."""
import os
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
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


def execute(notebook, folder: Path) -> None:
    """Run `notebook` in quick mode in a kernel of its own, with the quick stand-ins ($SLCA_MINIATURE,
    $SLCA_BACKBONE_MINIATURE, set by conftest.py); data, cache and runs in `folder`; one thread, so that two
    notebooks run side by side on two cores (with two threads each the four took 454 s instead of about 100)."""
    env = {**os.environ, "SLCA_QUICK": "1", "SLCA_ROOT": str(folder), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute(
        env=env)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, backbone_miniature):
    """Every notebook, with the snippets its prose tells a student to paste, run in quick mode two at a time (the
    suite's slowest part otherwise): path -> the notebook after its run, or the exception its run raised."""
    folders = {path: tmp_path_factory.mktemp(path.stem) for path in NOTEBOOKS}

    def run(path):
        notebook = nbformat.read(path, as_version=4)
        notebook.cells += [nbformat.v4.new_code_cell(snippet) for snippet in snippets(notebook)]
        try:
            execute(notebook, folders[path])
        except Exception as e:  # noqa: BLE001 - re-raised by the notebook's own test
            return e
        return notebook

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(NOTEBOOKS, pool.map(run, NOTEBOOKS)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, quick_runs):
    notebook = quick_runs[path]
    if isinstance(notebook, Exception):
        raise notebook
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("all checks passed" in o.get("text", "") for o in outputs)


def snippets(notebook) -> list[str]:
    """The ```python blocks of the markdown: code a student is told to paste after the notebook's cells."""
    return [textwrap.dedent(block) for cell in notebook.cells if cell.cell_type == "markdown"
            for block in re.findall(r"```python\n(.*?)```", cell.source, re.S)]


SOURCE = re.compile(r"docs/|benchmarks/|README|paper|Gu et al|MedMNIST|arXiv|\.csv|notebook 0\d", re.IGNORECASE)


def printed(notebook) -> str:
    """Everything the notebook's code cells printed, as one string."""
    return " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                    for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def unsourced_numbers(notebook) -> list[str]:
    """Decimal numbers in markdown that no output of the notebook shows and whose sentence names no source."""
    shown = set(re.findall(r"\d+\.\d+", printed(notebook)))
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


TOLERANCE = 0.3  # a stated run time may differ from the committed run's by 30 %: a rerun on the same machine varies
DURATION = re.compile(r"\b(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|a few|several)"
                      r"(?:-\d+)? (s|seconds?|min|minutes?|hours?)\b")
UNIT = {"s": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60, "hour": 3600, "hours": 3600}
WORDS = dict(zip("one two three four five six seven eight nine ten".split(), range(1, 11)))
COUNT = re.compile(r"(?<![\w.,×])(\d+) (?:training |test |more |)images?\b")


def sentences(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            prose = re.sub(r"```.*?```|`[^`]*`", "", cell.source, flags=re.DOTALL)
            yield from (s.strip() for s in re.split(r"(?<=[.!?:;])\s+(?=[A-Z*(`-])|\n|; ", prose) if s.strip())


def unchecked_times_and_counts(notebook) -> list[str]:
    """Run times and image counts in the prose that disagree with the notebook's recorded run.

    A time stated for this notebook's committed run ("in the committed run", "its metadata") must be within
    TOLERANCE of the seconds notebooks/run_all.py recorded; any other time must name its source. An image count
    ("42 images", "9 training images") must be printed by a cell or name its source."""
    seconds, outputs = notebook.metadata.get("slca_min", {}).get("seconds"), printed(notebook)
    wrong = []
    for sentence in sentences(notebook):
        for amount, unit in DURATION.findall(sentence):
            if re.search(r"committed run|its metadata", sentence):
                stated = float(WORDS.get(amount, amount) if amount in WORDS or amount[0].isdigit() else "nan") * UNIT[unit]
                if seconds is None or not abs(stated - seconds) <= TOLERANCE * seconds:
                    wrong.append(f"{amount} {unit} (the committed run took {seconds} s) in: {sentence[:120]}")
            elif not SOURCE.search(sentence):
                wrong.append(f"{amount} {unit} without a source in: {sentence[:120]}")
        for count in COUNT.findall(sentence):
            if not re.search(rf"(?<![\d.]){count}(?![\d.])", outputs) and not SOURCE.search(sentence):
                wrong.append(f"{count} images, printed nowhere, in: {sentence[:120]}")
    return wrong


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stated_times_and_image_counts_match_the_recorded_run(path):
    assert unchecked_times_and_counts(nbformat.read(path, as_version=4)) == []


def test_the_time_and_count_check_can_fail():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Default mode took 394 s on 2 cores in the committed run (its metadata)."),
        nbformat.v4.new_markdown_cell("Training takes about three minutes."),
        nbformat.v4.new_markdown_cell("Each model trains on 14 images."),
        nbformat.v4.new_code_cell("print(42)")], metadata={"slca_min": {"seconds": 250}})
    notebook.cells[3].outputs = [nbformat.v4.new_output("stream", text="n_train 42\n")]
    assert len(unchecked_times_and_counts(notebook)) == 3
    notebook.cells[0].source = "Default mode took 262 s in the committed run (its metadata)."
    notebook.cells[1].source = "Building it takes about three minutes (docs/tutorials.md)."
    notebook.cells[2].source = "Each model trains on 42 images."
    assert unchecked_times_and_counts(notebook) == []

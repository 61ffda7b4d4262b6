"""Run every tutorial notebook in its default mode and save it with its outputs: what the repository commits.

    python notebooks/run_all.py [01 02 ...]      # about 20 minutes on 2 CPU cores, once the stand-ins exist

Each notebook is executed from notebooks/ (so data, cache and runs go to the repository's folders, as for a
student), and its metadata records the library version and the mode, which tests/test_notebooks.py checks
against the code: committed outputs always come from the current version's default mode.
"""
from __future__ import annotations

import base64
import io
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from PIL import Image

from slca_min.pipeline.model_file import LIBRARY_VERSION

HERE = Path(__file__).resolve().parent


def compact(notebook) -> None:
    """Figures as JPEG (quality 85) instead of PNG: speckled phantoms do not compress as PNG, and a committed
    notebook should stay under a megabyte."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).pop("image/png", None)
            if png is not None:
                buffer = io.BytesIO()
                Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB").save(buffer, "JPEG", quality=85)
                output["data"]["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode()


def main() -> None:
    wanted = sys.argv[1:]
    os.environ.pop("SLCA_QUICK", None)  # the default mode
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for path in sorted(HERE.glob("*.ipynb")):
        if wanted and path.stem[:2] not in wanted:
            continue
        start = time.perf_counter()
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        compact(notebook)
        notebook.metadata["slca_min"] = {"library": LIBRARY_VERSION, "mode": "default",
                                         "seconds": round(time.perf_counter() - start)}
        nbformat.write(notebook, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

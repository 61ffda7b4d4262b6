"""The README's API program runs as written (pasted into a file on a fresh install)."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_api_program_runs_as_written(tmp_path):
    section = README.read_text().split("## The API: a complete program", 1)[1]
    program = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    levels = README.read_text().split("## Two readings of SLCA's input", 1)[1]
    program += re.search(r"```python\n(.*?)```", levels, re.S).group(1)  # continues the program
    (tmp_path / "example.py").write_text(program)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stand-in, not Segment Anything" in result.stdout and "'auc'" in result.stdout
    assert "D = 64: regions (4, 512, 16, 16), maps [(64,), (64,), (128,), (256,), (512,)]" in result.stdout
    again = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.stdout == result.stdout  # seeded: the same numbers every run

"""The README and the docs: the API program runs as written, every link resolves, the front page stays short."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README, DOCS = ROOT / "README.md", ROOT / "docs"


def test_readme_api_program_runs_as_written(tmp_path):
    section = README.read_text().split("## The API: a complete program", 1)[1]
    program = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    levels = (DOCS / "slca.md").read_text().split("## Two readings of SLCA's input", 1)[1]
    program += re.search(r"```python\n(.*?)```", levels, re.S).group(1)  # continues the program
    (tmp_path / "example.py").write_text(program)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stand-in, not Segment Anything" in result.stdout and "'auc'" in result.stdout
    assert "backbone weights: none (trained from scratch)" in result.stdout
    assert "D = 64: regions (4, 512, 16, 16), maps [(64,), (64,), (128,), (256,), (512,)]" in result.stdout
    again = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.stdout == result.stdout  # seeded: the same numbers every run


def test_every_link_resolves_and_the_front_page_is_short():
    pages = [README, *DOCS.glob("*.md"), ROOT / "benchmarks/README.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: link to {target} does not resolve"
    assert len(README.read_text().splitlines()) <= 250
    for page in DOCS.glob("*.md"):  # each page starts with its title and one paragraph on what it is for
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[1] == "" and lines[2] and not lines[2].startswith("#"), page.name
    linked = set(re.findall(r"\(docs/([\w-]+\.md)", README.read_text()))
    assert linked == {p.name for p in DOCS.glob("*.md")}, "every docs page is listed on the front page"

"""The README and the docs: the API program runs as written, every link resolves, the front page stays short."""
import os
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
    # two runs side by side, each in its own folder (no shared cache to race on) and on one core: seeded, they agree
    folders, env = [tmp_path / "first", tmp_path / "again"], {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for folder in folders:
        folder.mkdir()
        (folder / "example.py").write_text(program)
        with open(folder / "stderr", "w") as err:
            runs.append(subprocess.Popen([sys.executable, "example.py"], cwd=folder, env=env, stdout=subprocess.PIPE,
                                         stderr=err, text=True))
    out, again = (run.communicate(timeout=300)[0] for run in runs)
    assert runs[0].returncode == 0, (folders[0] / "stderr").read_text()[-2000:]
    assert "stand-in, not Segment Anything" in out and "'auc'" in out
    assert "backbone weights: none (trained from scratch)" in out
    assert "D = 64: regions (4, 512, 16, 16), maps [(64,), (64,), (128,), (256,), (512,)]" in out
    assert again == out  # seeded: the same numbers every run


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


def cli_commands() -> list[tuple[str, str]]:
    """Every `python -m slca_min ...` command a page or a notebook tells a reader to run: (where, command), the bash
    blocks' continued lines joined, comments dropped; lines with a shell variable or a placeholder are left out."""
    import nbformat

    texts = [(p.name, p.read_text()) for p in (README, *DOCS.glob("*.md"), ROOT / "benchmarks/README.md")]
    texts += [(p.name, "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown"))
              for p in sorted((ROOT / "notebooks").glob("0*.ipynb"))]
    found = []
    for name, text in texts:
        blocks = [block for language, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S) if language in ("", "bash")]
        lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
        lines += [" ".join(span.split()) for span in  # an inline command may wrap across lines
                  re.findall(r"`(python -m slca_min [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))]
        for line in lines:
            command = line.split(" #")[0].strip()
            if command.startswith("python -m slca_min ") and not re.search(r"\$|\.\.\.|…|\bD\b|\bM\b|PATH|COMMAND|\[", command):
                found.append((name, command))
    return found


def test_every_cli_command_in_the_docs_parses():
    """A command a reader copies must be one the CLI accepts as written: every option exists, every value is valid."""
    import shlex

    from slca_min.cli.main import build_parser

    commands = cli_commands()
    assert len(commands) >= 10 and any("lowdata" in c for _, c in commands)
    parser = build_parser()
    for name, command in commands:
        try:
            parser.parse_args(shlex.split(command)[3:])
        except SystemExit:
            raise AssertionError(f"{name}: `{command}` is refused by the CLI") from None

"""The documentation's examples run: every ```python block of README.md and docs/*.md, page by page.

Each page runs in its own Python process (ROOT state and crashes stay with it), in a fresh
temporary working directory, its blocks in order in one namespace, so that a later block may use
what an earlier one defined. Blocks in other languages (bash, cpp, text, json) are not run. A
block that cannot run must say so with the info string ``python skip-test``; those are listed by
``test_skipped_blocks_are_listed`` (there are none, and there should be none).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MACRO = REPO / "macros" / "fit_workspace.C"
ROOT_EXE = shutil.which("root", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
PYTHON_LANGUAGES = {"python", "py", "python3"}
SKIP_MARK = "skip-test"
# Pages near 20 s (11-18 s on a busy 2-core machine): README trains on rf615's full budget and runs the C++ macro.
SLOW_PAGES = {"README.md"}
# Pages whose code is commands that take minutes (benchmarks): they need no Python block.
COMMAND_PAGES = {"benchmarks.md"}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

# Runs in the child process: the blocks come on stdin as JSON [[label, code], ...].
RUNNER = r"""
import json, sys, traceback
page, blocks = json.load(sys.stdin)
if any("torch" in code.lower() or "demo" in code for _, code in blocks):
    try:
        import torch
        torch.set_num_threads(1)  # two threads spin for minutes on a busy 2-core machine
    except ModuleNotFoundError:
        pass
namespace = {"__name__": "__main__"}
for number, (label, code) in enumerate(blocks, 1):
    print(f"@@ block {number} ({label})", flush=True)
    try:
        exec(compile(code, f"{page} block {number} ({label})", "exec"), namespace)
    except BaseException:
        sys.stdout.flush()
        print(f"@@ FAILED block {number} ({label})", file=sys.stderr)
        traceback.print_exc()
        sys.exit(3)
    sys.stdout.flush()
print("@@ done", flush=True)
"""


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """Every fenced block of a markdown file: (info string, line of the opening fence, code)."""
    blocks, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, start = len(m["indent"]), m["fence"], i + 1
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and not lines[i].strip().strip(fence[0])):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.name}:{start}: code block never closed")
        blocks.append((m["info"].strip(), start, "\n".join(body) + "\n"))
        i += 1
    return blocks


def python_blocks(path: Path) -> tuple[list[tuple[int, str]], list[int]]:
    """The Python blocks to run, as (line, code), and the lines of those marked skip-test."""
    run, skipped = [], []
    for info, line, code in code_blocks(path):
        words = info.split()
        if not words or words[0].lower() not in PYTHON_LANGUAGES:
            continue
        if SKIP_MARK in words[1:]:
            skipped.append(line)
        else:
            run.append((line, code))
    return run, skipped


def run_page(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run a page's Python blocks in a fresh interpreter in ``cwd``; fail naming the block and the error."""
    blocks, _ = python_blocks(path)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # `root`, `roosbi` of the venv
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps([path.name, [[f"{path.name}:{line}", code] for line, code in blocks]]),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or "@@ done" not in proc.stdout:
        started = re.findall(r"^@@ block (\d+ \(.*\))$", proc.stdout, re.M)
        where = f"block {started[-1]}" if started else "before the first block"
        raise AssertionError(
            f"{path.name}: {where} of {len(blocks)} failed (exit code {proc.returncode})\n"
            f"--- stdout (end)\n{proc.stdout[-3000:]}\n--- stderr (end)\n{proc.stderr[-6000:]}"
        )
    return proc


def _page_param(path: Path):
    marks = [pytest.mark.slow] if path.name in SLOW_PAGES else []
    return pytest.param(path, id=path.name, marks=marks)


@pytest.mark.parametrize("page", [_page_param(p) for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks, _ = python_blocks(page)
    if page.name in COMMAND_PAGES:
        assert not blocks, f"{page.name} is a page of commands; its Python blocks would run minutes of benchmarks"
        return
    assert blocks, f"{page.name} has no runnable ```python example"
    run_page(page, tmp_path)
    if page.name == "README.md":
        _check_readme_workspace_fits_in_cpp(tmp_path / "workspace.root")


def _check_readme_workspace_fits_in_cpp(workspace):
    """The README's saved workspace is self-contained: macros/fit_workspace.C fits what it marked."""
    assert workspace.is_file(), "the README example no longer writes workspace.root"
    assert ROOT_EXE, "the root executable of the ROOT wheel was not found"
    from roosbi.library import library_path

    proc = subprocess.run(
        [ROOT_EXE, "-b", "-q", "-l", f'{MACRO}("{workspace}")'],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, ROOSBI_LIBRARY=str(library_path())),
    )
    fits = re.findall(r"^FIT (\w+) mu=(\S+) \+- (\S+) status=(-?\d+)$", proc.stdout, re.M)
    assert {f[0] for f in fits} == {"analytic", "learned"}, proc.stdout + proc.stderr
    for name, value, error, status in fits:
        assert int(status) == 0 and abs(float(value) - 2.5) < 0.3 and 0.02 < float(error) < 0.1, (name, proc.stdout)


def test_skipped_blocks_are_listed():
    skipped = [f"{p.relative_to(REPO)}:{line}" for p in PAGES for line in python_blocks(p)[1]]
    if skipped:
        pytest.skip(f"{len(skipped)} docs block(s) marked '{SKIP_MARK}', not run: {', '.join(skipped)}")


def test_block_parser(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\na = 1\n```\n\n```bash\nls\n```\n"
        "- item\n\n  ```python\n  b = a + 1\n  ```\n"
        "````python skip-test\nraise SystemExit\n````\n```\nplain\n```\n"
    )
    run, skipped = python_blocks(page)
    assert run == [(2, "a = 1\n"), (11, "b = a + 1\n")]
    assert skipped == [14]
    assert [info for info, _, _ in code_blocks(page)] == ["python", "bash", "python", "python skip-test", ""]


def test_a_failing_block_is_named(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```python\nassert x == 2, 'x is not 2'\n```\n")
    with pytest.raises(AssertionError, match=r"block 2 \(page.md:5\) of 2 failed(.|\n)*x is not 2"):
        run_page(page, tmp_path)

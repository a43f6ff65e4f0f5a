"""`advisor --help` is fast because it imports no heavy module; progress bars appear only on a terminal or on request.

These check behaviour (which modules load, what reaches stderr), not timings.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.cli import COMMAND_MODULES, main

HEAVY = ("torch", "transformers", "pandas", "sklearn", "scipy", "featurizers", "pyarrow", "sqlalchemy", "numpy")

_MODULES_AFTER = """
import json, sys
from advisor.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded_by(*argv: str) -> tuple[set[str], str]:
    done = subprocess.run([sys.executable, "-c", _MODULES_AFTER.format(argv=list(argv))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    return set(json.loads(lines[-1])), "\n".join(lines[:-1])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_advisor_help_lists_every_command_without_importing_any_command_module_or_heavy_library():
    modules, out = _modules_loaded_by("--help")
    assert _heavy(modules) == []
    assert not [m for m in modules if m.startswith("advisor.cli.") and m.endswith("_commands")]
    for command in COMMAND_MODULES:
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(command + " ") or ln.strip() == command), None)
        assert line is not None, f"{command} missing from --help"


def test_every_command_has_a_one_line_help_in_the_overview(capsys: pytest.CaptureFixture[str]):
    from advisor.cli import command_helps

    for command, module in COMMAND_MODULES.items():
        assert command_helps(module).get(command), f"{module} has no add_parser({command!r}, help=...)"


def test_a_mistyped_command_is_answered_without_heavy_imports():
    modules, _ = _modules_loaded_by("profil")
    assert _heavy(modules) == []


def test_profile_help_imports_neither_the_featurizers_nor_the_data_readers():
    modules, out = _modules_loaded_by("profile", "--help")
    assert "--format" in out and "standard input" in out and "hf://owner/name" in out
    assert _heavy(modules) == []


def _jsonl(tmp_path: Path, n: int = 50) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"item {i}", "completion": str(i % 2)}) + "\n" for i in range(n)),
                    encoding="utf-8")
    return path


def test_profile_prints_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["profile", str(_jsonl(tmp_path)), "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_profile_prints_a_progress_bar_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["profile", str(_jsonl(tmp_path)), "--json", "--progress"]) == 0
    assert "rows" in capsys.readouterr().err


def test_profile_prints_a_progress_bar_on_a_terminal_by_default(tmp_path: Path):
    pty = pytest.importorskip("pty")
    termios = pytest.importorskip("termios")
    leader, follower = pty.openpty()
    termios.tcsetwinsize(follower, (24, 100))  # a new pty is 0 columns wide, where tqdm draws nothing
    try:
        done = subprocess.run([sys.executable, "-m", "advisor.cli", "profile", str(_jsonl(tmp_path)), "--json"],
                              stdout=subprocess.PIPE, stderr=follower, timeout=120)
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0 and b"rows" in seen
    assert json.loads(done.stdout)["n_profiled"] == 50


def test_a_closed_output_pipe_ends_quietly(tmp_path: Path):
    path = _jsonl(tmp_path, 10)
    proc = subprocess.Popen([sys.executable, "-m", "advisor.cli", "profile", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the table is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Broken pipe" not in err and "Traceback" not in err

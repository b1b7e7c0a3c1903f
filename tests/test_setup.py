"""The set-up a newcomer follows: CI runs exactly the README's test command."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [
        line for line in readme.splitlines() if line.startswith("python3 -m venv") and "pytest" in line
    ]
    assert len(commands) == 1, commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[0] in ci


def test_readme_install_and_demo_is_one_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]" && stats-gateway serve --demo' in readme

"""The README's generated parts and commands stay true."""

from pathlib import Path

import pytest

from db.config.class_docs import BEGIN, END, classes_markdown

pytestmark = pytest.mark.unit  # in-process: no service, no child process

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_device_class_tables_are_current():
    start, stop = README.index(BEGIN), README.index(END) + len(END)
    assert README[start:stop] == classes_markdown(), "README tables are stale: paste `trackerdcs docs classes`"


def test_ci_runs_the_readme_test_command():
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_quick_start_runs_the_demo():
    assert "bash scripts/demo.sh" in README
    script = (ROOT / "scripts" / "demo.sh").read_text()
    assert "pip install -q -e ." in script and "trackerdcs demo" in script
    assert (ROOT / "stations" / "demo.yaml").exists()

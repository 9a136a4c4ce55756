"""The README's "Python API" snippet runs as printed (issue 15): it is read from README.md and
executed, so the documented API cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_snippet() -> str:
    text = README.read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"expected one python block in the Python API section, found {len(blocks)}"
    return blocks[0]


def test_the_python_api_snippet_of_the_readme_runs(capsys):
    snippet = _python_api_snippet()
    assert len(snippet.strip().splitlines()) <= 12  # "about ten lines"
    namespace: dict = {}
    exec(compile(snippet, str(README), "exec"), namespace)
    history, metrics, config = namespace["history"], namespace["metrics"], namespace["config"]
    assert [(h["layer"], h["epoch"]) for h in history] == [(0, 1)]
    assert len(metrics) == config.finetune_epochs == 2
    assert 0.1 < metrics[-1]["test_accuracy"] <= 1.0  # above chance for 10 classes
    assert "test accuracy" in capsys.readouterr().out

"""The worked examples of docs/architecture.md are code that a test file runs: this reads both
so a test can check they are the same."""

from __future__ import annotations

import pathlib
import re

ARCHITECTURE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def shown_in_docs(heading: str) -> str:
    """The first Python block under the docs' `### {heading}` section."""
    found = re.search(rf"### {re.escape(heading)}.*?```python\n(.*?)```", ARCHITECTURE.read_text(),
                      re.S)
    assert found, f"docs/architecture.md has no Python example under '### {heading}'"
    return found[1]


def marked_example(test_file: str) -> str:
    """The lines of `test_file` between '# --- The worked example' and '# --- End of the'."""
    source = pathlib.Path(test_file).read_text()
    start, end = source.index("# --- The worked example"), source.index("# --- End of the")
    return source[start:end].split("\n", 1)[1].strip()

"""Every visible string lives in the i18n tables (issue 20): no Chinese text in the frontend's code outside
frontend/src/i18n*.ts (comments aside), so an English UI cannot show a forgotten Chinese literal."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "frontend" / "src"
CJK = re.compile(r"[\u3400-\u9fff]")


def code_part(line: str) -> str:
    """The line without its comment (a // after code, or a comment line of a /** */ block)."""
    s = line.strip()
    if s.startswith(("//", "*", "/*")):
        return ""
    return re.sub(r"\s//\s.*$", "", line)


def test_no_chinese_literals_outside_the_i18n_tables():
    found = []
    for f in sorted(SRC.rglob("*.ts")):
        if f.name.startswith("i18n") or f.name.endswith(".d.ts"):
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if CJK.search(code_part(line)):
                found.append(f"{f.relative_to(SRC)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)

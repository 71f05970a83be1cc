"""What a load did: counts and the rows it skipped, with line numbers and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field


class FileRejected(Exception):
    """The file as a whole cannot be loaded; nothing of it was written."""


@dataclass
class LoadReport:
    source: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[int | str, str]] = field(default_factory=list)

    def skip(self, where: int | str, reason: str) -> None:
        self.skipped.append((where, reason))

    def summary(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        lines = [f"{self.source}: {parts}; skipped {len(self.skipped)}"]
        lines += [f"  line {w}: {r}" for w, r in self.skipped[:50]]
        if len(self.skipped) > 50:
            lines.append(f"  … {len(self.skipped) - 50} more")
        return "\n".join(lines)

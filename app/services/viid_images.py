"""The content-addressed image store of the view library: ``<root>/<category>/<yyyymmdd>/<sha[:2]>/<sha256>.<ext>``.

The name is the content's SHA-256, so an image sent twice (a resend, two records of one scene) is written
once a day; the category and day come first so that retention deletes whole directories (a category's
days older than its limit), never file by file or row by row. A file is written under a temporary name,
flushed to disk and renamed: a key in the database always names a complete image."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from datetime import date
from pathlib import Path

CATEGORIES = ("vehicle", "face", "person", "nonmotor")
_KEY = re.compile(r"^(vehicle|face|person|nonmotor)/[0-9]{8}/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|bmp|gif|bin)$")


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key(category: str, day: date, sha: str, ext: str) -> str:
        return f"{category}/{day:%Y%m%d}/{sha[:2]}/{sha}.{ext}"

    def path(self, key: str) -> Path:
        """The file of a stored key; ValueError for anything else (no path outside the store)."""
        if not _KEY.match(key):
            raise ValueError("not an image key")
        return self.root / key

    def put(self, category: str, day: date, data: bytes, ext: str) -> tuple[str, str]:
        """(key, sha256) of the image, written unless it is there already. Blocking: call in a thread."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        sha = hashlib.sha256(data).hexdigest()
        key = self.key(category, day, sha, ext)
        path = self.root / key
        if path.exists():
            return key, sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # acknowledged = stored: the bytes are on disk before the answer
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return key, sha

    def put_all(self, items: list[tuple[str, date, bytes, str]]) -> list[tuple[str, str]]:
        return [self.put(*item) for item in items]

    def remove(self, keys: list[str]) -> int:
        """Delete the files of ``keys`` (gone already is fine) and their directories left empty; how many
        files were deleted. Blocking: call in a thread, only once no committed row names the keys."""
        removed = 0
        for key in keys:
            path = self.path(key)
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            for parent in (path.parent, path.parent.parent):  # <sha[:2]>, then <yyyymmdd>
                try:
                    parent.rmdir()
                except OSError:  # not empty (or gone): kept
                    break
        return removed

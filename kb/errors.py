"""The errors of kb's bundled files, apart from the code that reads them: a door catches them
without loading that code (bot/entry.py), so a command that needs neither file starts faster."""

from __future__ import annotations

from pathlib import Path


class ArticleError(ValueError):
    """An article that does not validate, naming the file and the field."""

    def __init__(self, path: Path | str, field: str, message: str) -> None:
        super().__init__(f"{path}: field '{field}': {message}")
        self.path, self.field = str(path), field


class ModelError(ValueError):
    """kb/model.yaml is not a valid model; the message names the entry."""

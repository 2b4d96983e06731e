"""Finding a tool on PATH without running one from the repository being edited.

A relative PATH entry (`.`, `bin`, `node_modules/.bin`) is resolved against the server's
working directory, which editors set to the workspace: `shutil.which("clang")` would then
pick — and kptr-lsp would run, to ask its version — a `clang` that a cloned repository ships.
Only absolute PATH entries are searched.
"""

from __future__ import annotations

import os
import shutil


def absolute_path_dirs() -> list[str]:
    """The absolute entries of PATH, in order (relative and empty ones are skipped)."""
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return [d for d in entries if os.path.isabs(d)]


def which(name: str) -> str | None:
    """`shutil.which` over the absolute PATH entries only; a name with a `/` is taken as is."""
    if os.sep in name:
        return shutil.which(name)
    return shutil.which(name, path=os.pathsep.join(absolute_path_dirs()))

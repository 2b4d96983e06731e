"""The BPF ELF object: functions, programs, maps and raw sections (pyelftools adapter)."""

from __future__ import annotations

from .objfile import Function, MapDef, ObjectError, ObjectFile

__all__ = ["Function", "MapDef", "ObjectError", "ObjectFile"]

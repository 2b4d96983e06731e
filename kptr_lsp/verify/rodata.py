"""Which value each `const volatile` global has during verification: the source's default, or
the workspace's `rodataOverrides`. Pure: the loader writes the patches, hovers show the notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..elf.rodata import ConstGlobal, override_bytes
from ..findings import Location
from .setup import DataPatch


@dataclass(frozen=True)
class RodataValue:
    """One `const volatile` global as the verifier saw it."""

    name: str
    location: Location | None  # its declaration
    value: int
    overridden: bool
    problem: str | None = None  # an override that could not be applied

    def note(self) -> str:
        if self.overridden:
            return (
                f"Verified with `{self.name}` = {self.value}, from the `rodataOverrides` setting."
            )
        text = (
            f"Verified with `{self.name}` = {self.value}, its default in the source: the "
            "project's userspace may set another value before load, which can change the "
            "verifier's verdict. Set `rodataOverrides` to verify with another value."
        )
        return f"{text} ({self.problem})" if self.problem else text


def plan_rodata(
    globals_: tuple[ConstGlobal, ...],
    overrides: Mapping[str, int],
    declared: Mapping[str, Location],
) -> tuple[tuple[DataPatch, ...], tuple[RodataValue, ...]]:
    """The patches to write before load and what each global's value is, for this object.
    Overrides naming variables this object lacks are ignored: the setting is workspace-wide."""
    patches: list[DataPatch] = []
    values: list[RodataValue] = []
    for g in globals_:
        where = declared.get(g.name)
        wanted = overrides.get(g.name)
        if wanted is None:
            values.append(RodataValue(g.name, where, g.default_value(), overridden=False))
            continue
        try:
            data = override_bytes(g, wanted)
        except OverflowError:
            why = f"the override {wanted} does not fit in {g.size} bytes and was not applied"
            values.append(RodataValue(g.name, where, g.default_value(), False, why))
            continue
        patches.append(DataPatch(g.section, g.offset, data))
        values.append(RodataValue(g.name, where, wanted, overridden=True))
    return tuple(patches), tuple(values)

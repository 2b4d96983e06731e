"""Which analysis runs when: one generation counter per document.

A newer request for a document supersedes the older one: a pending debounce is cancelled, a
running analysis is told to stop at its next stage, and whatever it returns is dropped, so only
the latest version's findings are ever published.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class DocState:
    generation: int = 0
    task: asyncio.Task[None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    published: set[str] = field(default_factory=set)  # uris this document published to


Runner = Callable[[str, int, threading.Event], Awaitable[None]]


class Scheduler:
    def __init__(self, run: Runner) -> None:
        self._run = run
        self.docs: dict[str, DocState] = {}

    def schedule(self, uri: str, delay_s: float) -> None:
        state = self.docs.setdefault(uri, DocState())
        self._supersede(state)
        state.generation += 1
        gen, event = state.generation, state.cancelled

        async def later() -> None:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            await self._run(uri, gen, event)

        state.task = asyncio.get_running_loop().create_task(later())

    def is_current(self, uri: str, generation: int) -> bool:
        state = self.docs.get(uri)
        return state is not None and state.generation == generation

    def forget(self, uri: str) -> DocState | None:
        state = self.docs.pop(uri, None)
        if state is not None:
            self._supersede(state)
        return state

    @staticmethod
    def _supersede(state: DocState) -> None:
        state.cancelled.set()
        state.cancelled = threading.Event()
        if state.task is not None and not state.task.done():
            state.task.cancel()

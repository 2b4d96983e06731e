"""The LSP shell: registers features and translates between LSP and the pure pipeline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__
from .hovers import hover_text
from .lsp.diagnostics import by_uri, uri_of
from .lsp.scheduler import Scheduler
from .pipeline import Analysis, analyse
from .settings import Settings

log = logging.getLogger(__name__)


def is_bpf_source(path: str, text: str) -> bool:
    """Only BPF C is compiled for the BPF target: a project's user-space loader (plain C)
    opened in the same editor must not drown in false errors."""
    if path.endswith(".bpf.c"):
        return True
    if not path.endswith(".c"):
        return False
    return any(s in text for s in ("SEC(", "<bpf/bpf_helpers.h>", '"bpf_helpers.h"', "vmlinux.h"))


class KptrLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kptr-lsp", __version__)
        self.settings = Settings()
        self.scheduler = Scheduler(self._analyse_and_publish)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="kptr-analysis"
        )
        self.analyses: dict[str, Analysis] = {}
        self._told_not_verified = False

    # -- helpers used by the feature handlers -------------------------------------------

    def current_analysis(self, uri: str) -> Analysis | None:
        """The analysis of the buffer exactly as it is now; None while a newer one is due."""
        analysis = self.analyses.get(uri)
        doc = self.workspace.text_documents.get(uri)
        if analysis is None or doc is None or analysis.text != doc.source:
            return None
        return analysis

    def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        analysis = self.current_analysis(uri)
        if analysis is None:
            return None
        text = hover_text(analysis, position.line + 1, position.character)
        if text is None:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))

    def apply_settings(self, raw: Any) -> None:
        settings, problems = Settings.from_mapping(raw)
        self.settings = settings
        for problem in problems:
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, f"kptr-lsp: {problem}")
            )

    def request_analysis(self, uri: str, delay_s: float = 0.0) -> None:
        self.scheduler.schedule(uri, delay_s)

    def clear(self, uri: str) -> None:
        state = self.scheduler.forget(uri)
        self.analyses.pop(uri, None)
        for target in {uri} | (state.published if state else set()):
            self._publish(target, [])

    def _publish(
        self, uri: str, diagnostics: list[types.Diagnostic], version: int | None = None
    ) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    def _lines(self, path: str) -> list[str] | None:
        doc = self.workspace.text_documents.get(uri_of(path))
        if doc is not None:
            return list(doc.lines)
        try:
            return Path(path).read_text(errors="replace").splitlines()
        except OSError:
            return None

    def _workspace_root(self) -> str | None:
        root = self.workspace.root_path
        return str(root) if root else None

    async def _analyse_and_publish(
        self, uri: str, generation: int, cancelled: threading.Event
    ) -> None:
        doc = self.workspace.text_documents.get(uri)
        path = to_fs_path(uri)
        if doc is None or path is None:
            return
        text, version = doc.source, doc.version
        if not is_bpf_source(path, text):
            return
        token = await self._progress_begin(os.path.basename(path))
        try:
            loop = asyncio.get_running_loop()
            analysis = await loop.run_in_executor(
                self.executor,
                functools.partial(
                    analyse,
                    path,
                    text,
                    self.settings,
                    workspace_root=self._workspace_root(),
                    cancelled=cancelled,
                ),
            )
        finally:
            self._progress_end(token)
        if not self.scheduler.is_current(uri, generation):
            return  # a newer version is on its way: never publish stale findings
        self.analyses[uri] = analysis
        self._publish_analysis(uri, version, analysis)
        if analysis.not_verified_reason and not self._told_not_verified:
            self._told_not_verified = True
            self.window_show_message(
                types.ShowMessageParams(
                    types.MessageType.Warning,
                    "kptr-lsp: programs are not being checked by the kernel verifier: "
                    f"{analysis.not_verified_reason}. Compiler diagnostics still work.",
                )
            )

    def _publish_analysis(self, uri: str, version: int | None, analysis: Analysis) -> None:
        grouped = by_uri(analysis.findings, self._lines, self.workspace.position_codec)
        state = self.scheduler.docs.get(uri)
        previous = state.published if state else set()
        self._publish(uri, grouped.pop(uri, []), version)
        for other, diags in grouped.items():
            self._publish(other, diags)
        for gone in previous - set(grouped) - {uri}:
            self._publish(gone, [])
        if state is not None:
            state.published = set(grouped)

    async def _progress_begin(self, name: str) -> str | None:
        caps = self.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return None
        token = f"kptr-lsp/{uuid.uuid4()}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # a client that refuses progress must not stop the analysis
            return None
        self.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title="kptr-lsp", message=f"compiling and verifying {name}"
            ),
        )
        return token

    def _progress_end(self, token: str | None) -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))


server = KptrLanguageServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: KptrLanguageServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: KptrLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    if params.settings:
        ls.apply_settings(params.settings)
        for uri in list(ls.scheduler.docs):
            ls.request_analysis(uri)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: KptrLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.request_analysis(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: KptrLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    if ls.settings.diagnostics_on_change:
        ls.request_analysis(params.text_document.uri, ls.settings.change_delay_ms / 1000)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def on_save(ls: KptrLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.request_analysis(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: KptrLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.clear(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: KptrLanguageServer, params: types.HoverParams) -> types.Hover | None:
    return ls.hover(params.text_document.uri, params.position)


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: KptrLanguageServer, params: None) -> None:
    ls.executor.shutdown(wait=False, cancel_futures=True)

"""The LSP shell: registers features and translates between LSP and the pure pipeline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__
from .analysis import Analysis
from .features.hover import hover_text
from .findings import Finding, Location, Severity, Source
from .lsp.actions import code_actions, resolve_action
from .lsp.diagnostics import by_uri, uri_of
from .lsp.inlay import inlay_hints_for
from .lsp.scheduler import Scheduler
from .lsp.views import STATS_COMMAND, ProgramViews
from .pipeline import analyse, compile_options
from .settings import GuestKernel, Settings
from .sources import is_bpf_source
from .targets.guest import GuestSession, GuestState, accelerator
from .targets.vm import shutdown_all as shutdown_target_vms
from .toolchain import pch, warm
from .toolchain.syntax import SyntaxChecker

log = logging.getLogger(__name__)
# A header's includers hold the preamble rebuild back at most this long (one stuck analysis
# must not leave every later compile without a PCH).
_DEFER_PCH_AT_MOST_S = 60.0


class _Superseded(Exception):
    """Stops the DWARF walk of an analysis that a newer one replaced."""


# The walk starts this long after the publish.
_VIEWS_AFTER_S = 0.1
# A walk waits this long in all at most for running analyses, then goes on anyway.
_VIEWS_WAIT_AT_MOST_S = 1.0


def _resolve(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)


def internal_error(path: str, text: str, exc: Exception) -> Analysis:
    """What the user sees when the analysis itself failed: one Error saying so."""
    finding = Finding(
        Location(path, 1),
        Severity.ERROR,
        Source.CHECKS,
        f"kptr-lsp failed to analyse this file ({type(exc).__name__}: {exc}); the server keeps "
        "running. Please report this with the server log.",
        code="internal-error",
    )
    return Analysis(path, text, (finding,))


class KptrLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kptr-lsp", __version__)
        self.settings = Settings()
        self.scheduler = Scheduler(self._analyse_and_publish)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="kptr-analysis"
        )
        self.analyses: dict[str, Analysis] = {}
        self.syntax = SyntaxChecker()
        # libclang parses apart from the analyses: a keystroke never waits behind a verification.
        self.syntax_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kptr-syntax"
        )
        # The DWARF walk for lenses and outline, apart from the analyses: it pauses while one
        # runs (_update_views), and a paused walk must not hold a worker an analysis needs.
        self.views_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kptr-views"
        )
        self._running = 0  # analyses between start and publish
        self._idle = threading.Event()  # set while none runs
        self._idle.set()
        self.shown: dict[str, tuple[Finding, ...]] = {}  # findings last published per document
        self._syntax_wanted: dict[str, int] = {}  # the newest version asked for, per document
        self.views = ProgramViews()  # code lenses and outline, per document
        # Lenses and outline of a just-published analysis, still being built (DWARF walk).
        self._views_due: dict[str, asyncio.Task[None]] = {}
        self._told_not_verified = False
        self.guest = GuestSession()  # guestVerify: the session's guest kernel, booted on need
        self._told_guest = False
        # Futures set when a document's next analysis is published (reanalyse_includers).
        self._on_published: dict[str, list[asyncio.Future[None]]] = {}
        self._holding: set[asyncio.Task[None]] = set()  # ... and the tasks that wait for them

    def stop_workers(self) -> None:
        """Drop queued analyses, syntax checks and walks; what runs finishes on its own."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.syntax_executor.shutdown(wait=False, cancel_futures=True)
        self._idle.set()  # a paused walk goes on and ends
        self.views_executor.shutdown(wait=False, cancel_futures=True)

    # -- helpers used by the feature handlers -------------------------------------------

    def current_analysis(self, uri: str) -> Analysis | None:
        """The analysis of the buffer exactly as it is now; None while a newer one is due."""
        analysis = self.analyses.get(uri)
        doc = self.workspace.text_documents.get(uri)
        if analysis is None or doc is None or analysis.text != doc.source:
            return None
        return analysis

    async def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        analysis = self.current_analysis(uri)
        if analysis is None:
            return None
        # In a thread: the first state hover of an analysis loads the program again (level 2).
        text = await asyncio.to_thread(hover_text, analysis, position.line + 1, position.character)
        if text is None:
            return None
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))

    def apply_settings(self, raw: Any) -> None:
        settings, problems = Settings.from_mapping(raw)
        self.settings = settings
        self.guest.configure(settings.guest_verify)
        level = getattr(logging, settings.log_level.upper(), None)
        if isinstance(level, int):
            logging.getLogger("kptr_lsp").setLevel(level)
        for problem in problems:
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, f"kptr-lsp: {problem}")
            )

    def request_analysis(self, uri: str, delay_s: float = 0.0) -> None:
        self.scheduler.schedule(uri, delay_s)

    def reanalyse_includers(self, uri: str) -> None:
        """A header was saved: analyse again the open files whose last compile read it. Their
        preamble PCHs read the old header: each file is compiled (in parallel) on the kernel's
        types alone when it reaches vmlinux.h first (toolchain/kernel_base.py), else plainly,
        and the rebuild of the preamble, one for files that share it, waits until all of them
        are published; the next save of any of them compiles on it."""
        path = to_fs_path(uri)
        if path is None:
            return
        real = os.path.realpath(path)
        includers = []
        for other, analysis in list(self.analyses.items()):
            headers = analysis.compile.headers if analysis.compile is not None else ()
            if other != uri and any(h.path == real for h in headers):
                log.info("%s saved: analysing %s again", path, to_fs_path(other))
                includers.append(other)
        if not includers:
            return
        release = pch.CACHE.defer_builds(real)  # and stops a rebuild that read it
        loop = asyncio.get_running_loop()
        published = []
        for other in includers:
            self.request_analysis(other)
            done: asyncio.Future[None] = loop.create_future()
            self._on_published.setdefault(other, []).append(done)
            task = self.scheduler.docs[other].task
            if task is not None:  # closed or superseded before it publishes: done too
                task.add_done_callback(functools.partial(_resolve, done))
            published.append(done)
        held = loop.create_task(self._release_when_published(published, release))
        self._holding.add(held)
        held.add_done_callback(self._holding.discard)

    @staticmethod
    async def _release_when_published(
        published: list[asyncio.Future[None]], release: Callable[[], None]
    ) -> None:
        try:
            await asyncio.wait(published, timeout=_DEFER_PCH_AT_MOST_S)
        finally:
            release()

    def request_syntax(self, uri: str) -> None:
        """clang's diagnostics for the text just typed (libclang, milliseconds), published
        ahead of the full analysis when they differ from what the editor shows."""
        doc = self.workspace.text_documents.get(uri)
        path = to_fs_path(uri)
        if doc is None or path is None or not is_bpf_source(path, doc.source):
            return
        version, text = doc.version, doc.source
        self._syntax_wanted[uri] = version
        options = compile_options(self.settings, self._workspace_root())

        def check() -> tuple[Finding, ...] | None:
            if self._syntax_wanted.get(uri) != version:
                return None  # typed over already: parse only the newest text
            return self.syntax.check(path, text, options)

        loop = asyncio.get_running_loop()
        future = self.syntax_executor.submit(check)
        future.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._publish_syntax, uri, path, version, f)
        )

    def _publish_syntax(
        self,
        uri: str,
        path: str,
        version: int,
        future: concurrent.futures.Future[tuple[Finding, ...] | None],
    ) -> None:
        doc = self.workspace.text_documents.get(uri)
        if doc is None or doc.version != version or future.cancelled():
            return
        if future.exception() is not None:
            log.warning("syntax check of %s failed: %s", path, future.exception())
            return  # the compile on idle/save still reports clang's diagnostics
        new = future.result()
        if new is None:
            return
        shown = self.shown.get(uri, ())

        def typed(f: Finding) -> bool:
            return f.source is Source.CLANG and f.location.file == os.path.abspath(path)

        def same(f: Finding) -> tuple[int, int, int, str]:
            return (f.location.line, f.location.col, int(f.severity), f.message)

        if {same(f) for f in new} == {same(f) for f in shown if typed(f)}:
            return  # nothing new to say: leave the editor alone until the analysis lands
        findings = (*(f for f in shown if not typed(f)), *new)
        grouped = by_uri(findings, self._lines, self.workspace.position_codec)
        self._publish(uri, grouped.get(uri, []), version)
        self.shown[uri] = findings

    def clear(self, uri: str) -> None:
        state = self.scheduler.forget(uri)
        self.analyses.pop(uri, None)
        self.shown.pop(uri, None)
        self._syntax_wanted.pop(uri, None)
        for waiting in self._on_published.pop(uri, []):
            _resolve(waiting)  # closed: it publishes nothing more
        path = to_fs_path(uri)
        if path is not None:
            self.syntax.forget(path)
        self.views.forget(uri)
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
        guest = self.guest.state()
        self._running += 1
        self._idle.clear()
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
                    progress=self._progress_reporter(token, loop),
                    guest=self.ready_guest(),
                    guest_wanted=self.guest.enabled and guest.error is None,
                ),
            )
        except Exception as exc:  # a bug of ours must cost one file's findings, not the server
            log.exception("analysis of %s failed", path)
            analysis = internal_error(path, text, exc)
        finally:
            self._progress_end(token)
            self._running -= 1
            if self._running == 0:
                self._idle.set()
        if not self.scheduler.is_current(uri, generation):
            return  # a newer version is on its way: never publish stale findings
        self.analyses[uri] = analysis
        self._publish_analysis(uri, version, analysis)
        baseline = self.views.published(uri, analysis)  # before any save can come in
        for waiting in self._on_published.pop(uri, []):
            _resolve(waiting)
        # In a task of its own: a newer edit superseding this run must not leave these
        # diagnostics beside the previous version's lenses.
        views = loop.create_task(self._update_views(uri, analysis, baseline))
        self._views_due[uri] = views
        if analysis.wants_guest:
            await self._start_guest()  # verdicts follow when it is up: nothing waits for it
        elif analysis.not_verified_reason and not (
            analysis.not_verified_file or self._told_not_verified
        ):
            self._told_not_verified = True
            why = analysis.not_verified_reason
            failed = self.guest.state().error
            if failed is not None and "guest kernel" not in why:
                why = f"{why}, and the guest kernel could not be started: {failed}"
            self.window_show_message(
                types.ShowMessageParams(
                    types.MessageType.Warning,
                    "kptr-lsp: programs are not being checked by the kernel verifier: "
                    f"{why}. Compiler diagnostics, BTF checks and "
                    "hovers still work. To verify programs, run kptr-lsp with CAP_BPF and "
                    "CAP_PERFMON, or set verifyHelper (e.g. to 'sudo -n kptr-lsp verify-helper'; "
                    "see the README, 'Running without root').",
                )
            )
        if analysis.host_refused and analysis.guest_label and not self._told_guest:
            self._told_guest = True
            up = self.guest.state().ready
            accel = accelerator(up.vm if up is not None else None, why=False)
            self.window_show_message(
                types.ShowMessageParams(
                    types.MessageType.Info,
                    f"kptr-lsp: programs are verified in guest kernel {analysis.guest_label} "
                    f"(qemu, {accel}) because this machine's kernel refused bpf(): "
                    f"{analysis.host_refused}. Each verifier diagnostic names that kernel. "
                    "For verification by this machine's kernel instead, run kptr-lsp with "
                    "CAP_BPF and CAP_PERFMON, or set verifyHelper (see the README, 'Running "
                    "without root'); guestVerify: off turns the guest off.",
                )
            )
        # Last: the guest's start and the notices above do not wait for the lenses' walk.
        await asyncio.shield(views)

    def ready_guest(self) -> GuestKernel | None:
        """The session's guest kernel once it is up (analyses and fix proofs verify there
        what the host will not load), else None."""
        state = self.guest.state()
        return state.kernel if state.ready is not None else None

    async def _start_guest(self) -> None:
        """Boot the session's guest kernel in the background (once), with work-done progress;
        when it is up, every open document is analysed again and gets its verdicts."""
        loop = asyncio.get_running_loop()
        token = await self._progress_begin("", title="starting the guest kernel")

        def done(state: GuestState) -> None:
            loop.call_soon_threadsafe(self._guest_done, state, token)

        if not self.guest.start(done):
            self._progress_end(token)

    def _guest_done(self, state: GuestState, token: str | None) -> None:
        self._progress_end(token)
        if state.ready is not None:
            up = state.ready
            boot = up.vm.booted.boot_s if up.vm.booted is not None else 0.0
            self.window_log_message(
                types.LogMessageParams(
                    types.MessageType.Info,
                    f"kptr-lsp: guest kernel {up.label} ({up.release}) is up in qemu "
                    f"({accelerator(up.vm)}), booted in {boot:.1f} s",
                )
            )
        else:
            log.warning("guest kernel: %s", state.error)
            self.window_log_message(
                types.LogMessageParams(
                    types.MessageType.Warning, f"kptr-lsp: guest kernel: {state.error}"
                )
            )
        for uri in list(self.scheduler.docs):
            self.request_analysis(uri)

    async def _update_views(
        self, uri: str, analysis: Analysis, baseline: dict[str, int] | None
    ) -> None:
        """Lenses and outline of the analysis just published for `uri`; `baseline`: the
        instruction counts its lenses compare with."""

        deadline: float | None = None

        def checkpoint() -> None:
            nonlocal deadline
            # The walk is pure Python: while it runs, the next save's messages wait for the
            # GIL (~5 ms per hand-over, 25-45 ms in all). It waits while an analysis runs (a
            # second in all at most: lenses must not wait for a long verification elsewhere)
            # and stops once this analysis is no longer the document's.
            if self.analyses.get(uri) is not analysis:
                raise _Superseded
            if deadline is None:
                deadline = time.monotonic() + _VIEWS_WAIT_AT_MOST_S
            self._idle.wait(max(0.0, deadline - time.monotonic()))
            if self.analyses.get(uri) is not analysis:
                raise _Superseded

        try:
            if analysis.model is not None:
                # They need declaration lines: walk the DWARF off the event loop, after the
                # diagnostics are out, so neither a save nor a keystroke waits for it, and a
                # little later: a save that follows at once starts first (the walk then waits).
                await asyncio.sleep(_VIEWS_AFTER_S)
                await asyncio.get_running_loop().run_in_executor(
                    self.views_executor, analysis.model.decls.read_in_background, checkpoint
                )
            if self.analyses.get(uri) is analysis:  # not closed or superseded meanwhile
                self.views.analysed(uri, analysis, baseline)
                self._refresh_code_lenses()
                self._refresh_inlay_hints()
        except _Superseded:
            pass  # the newer analysis builds its own
        except Exception:  # e.g. the executor shut down: the lenses stay as they were
            log.exception("building the lenses of %s failed", uri)
        finally:
            if self._views_due.get(uri) is asyncio.current_task():
                del self._views_due[uri]

    async def views_settled(self, uri: str) -> None:
        """Wait until the lenses and outline of `uri` match its published diagnostics: a
        client asking right after a publish must not get the previous version's (or none)."""
        due = self._views_due.get(uri)
        if due is not None:
            await asyncio.shield(due)

    def _publish_analysis(self, uri: str, version: int | None, analysis: Analysis) -> None:
        self.shown[uri] = analysis.findings
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

    async def _progress_begin(self, name: str, title: str | None = None) -> str | None:
        caps = self.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return None
        token = f"kptr-lsp/{uuid.uuid4()}"
        try:
            # Shielded: when a newer edit cancels this run, the client's answer must still find
            # its request pending (pygls logs an error answering a cancelled one).
            await asyncio.shield(self.work_done_progress.create_async(token))
        except Exception:  # a client that refuses progress must not stop the analysis
            return None
        self.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title="kptr-lsp", message=title or f"compiling and verifying {name}"
            ),
        )
        return token

    def _progress_reporter(
        self, token: str | None, loop: asyncio.AbstractEventLoop
    ) -> Callable[[int, int], None] | None:
        """`progress(done, total)` for the analysis thread: reports on the event loop."""
        if token is None:
            return None

        def report(done: int, total: int) -> None:
            update = types.WorkDoneProgressReport(
                message=f"verified {done}/{total} programs",
                percentage=100 * done // max(1, total),
            )
            loop.call_soon_threadsafe(self.work_done_progress.report, token, update)

        return report

    def _progress_end(self, token: str | None) -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))

    def _refresh_code_lenses(self) -> None:
        """New verdicts are in: ask clients that support it to fetch the lenses again."""
        caps = self.client_capabilities.workspace
        if caps is not None and caps.code_lens is not None and caps.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)

    def _refresh_inlay_hints(self) -> None:
        """A new analysis is in: ask clients that support it to fetch the cost hints again."""
        caps = self.client_capabilities.workspace
        if caps is not None and caps.inlay_hint is not None and caps.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def document_symbols(self, uri: str) -> list[types.DocumentSymbol]:
        doc = self.workspace.text_documents.get(uri)
        path = to_fs_path(uri)
        if doc is None or path is None:
            return []
        return self.views.symbols(uri, path, list(doc.lines), self.workspace.position_codec)


server = KptrLanguageServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: KptrLanguageServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)
    _announce_libbpf(ls)
    warm.POOL.enabled = True  # a session saves the same files again: keep their clang started


def _announce_libbpf(ls: KptrLanguageServer) -> None:
    """Which libbpf loads programs, in the log and the client's output (a warning when it is
    the system's fallback: verdicts on struct_ops and exception callbacks may be libbpf's)."""
    from kptr_lsp.verify.libbpf import status

    which, warning = status()
    log.info("loading programs through %s", which)
    ls.window_log_message(types.LogMessageParams(types.MessageType.Info, f"kptr-lsp: {which}"))
    if warning:
        ls.window_log_message(
            types.LogMessageParams(types.MessageType.Warning, f"kptr-lsp: {warning}")
        )


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: KptrLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    if params.settings:
        ls.apply_settings(params.settings)
        for uri in list(ls.scheduler.docs):
            ls.request_analysis(uri)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: KptrLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.views.saved(params.text_document.uri, params.text_document.text)
    ls.request_analysis(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: KptrLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    if ls.settings.diagnostics_on_change:
        ls.request_syntax(params.text_document.uri)
        ls.request_analysis(params.text_document.uri, ls.settings.change_delay_ms / 1000)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def on_save(ls: KptrLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is not None:
        ls.views.saved(params.text_document.uri, doc.source)
    ls.request_analysis(params.text_document.uri)
    ls.reanalyse_includers(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: KptrLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.clear(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def on_hover(ls: KptrLanguageServer, params: types.HoverParams) -> types.Hover | None:
    return await ls.hover(params.text_document.uri, params.position)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True
    ),
)
async def on_code_action(
    ls: KptrLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    analysis = ls.current_analysis(params.text_document.uri)
    if analysis is None:
        return None
    document_caps = ls.client_capabilities.text_document
    action_caps = document_caps.code_action if document_caps is not None else None
    support = action_caps.resolve_support if action_caps is not None else None
    # In a thread: a fix parses the file with libclang, may read the kernel's BTF for the
    # matching release kfunc, and (without resolve) is proven by the kernel before it is listed.
    return await asyncio.to_thread(
        functools.partial(
            code_actions,
            analysis,
            params.text_document.uri,
            params.range,
            params.context,
            ls.workspace.position_codec,
            ls.settings,
            ls._workspace_root(),
            lazy=support is not None and "edit" in support.properties,
            guest=ls.ready_guest(),
        )
    )


@server.feature(types.CODE_ACTION_RESOLVE)
async def on_code_action_resolve(
    ls: KptrLanguageServer, action: types.CodeAction
) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else {}
    analysis = ls.current_analysis(str(data.get("uri", "")))
    # In a thread: the proof compiles the fixed buffer and loads it into the kernel.
    resolved = await asyncio.to_thread(
        functools.partial(
            resolve_action,
            action,
            analysis,
            ls.workspace.position_codec,
            ls.settings,
            ls._workspace_root(),
            guest=ls.ready_guest(),
        )
    )
    document_caps = ls.client_capabilities.text_document
    action_caps = document_caps.code_action if document_caps is not None else None
    if resolved.disabled is not None and not (action_caps and action_caps.disabled_support):
        # The editor cannot show a disabled action: say why picking it changed nothing.
        ls.window_show_message(
            types.ShowMessageParams(
                types.MessageType.Info,
                f"kptr-lsp: {resolved.title}: not applied, {resolved.disabled.reason}",
            )
        )
    return resolved


@server.feature(types.TEXT_DOCUMENT_CODE_LENS)
async def on_code_lens(
    ls: KptrLanguageServer, params: types.CodeLensParams
) -> list[types.CodeLens]:
    await ls.views_settled(params.text_document.uri)
    return ls.views.code_lenses(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
async def on_inlay_hint(
    ls: KptrLanguageServer, params: types.InlayHintParams
) -> list[types.InlayHint] | None:
    uri = params.text_document.uri
    analysis, doc = ls.current_analysis(uri), ls.workspace.text_documents.get(uri)
    if analysis is None or doc is None or not ls.settings.cost_hints:
        return None
    # In a thread: the first request of an analysis loads its programs again at log level 2.
    hints, costed = await asyncio.to_thread(
        inlay_hints_for, analysis, ls.settings.cost_hint_min_insns, list(doc.lines),
        params.range, ls.workspace.position_codec,
    )  # fmt: skip
    if costed:
        ls._refresh_code_lenses()  # their hottest line is known now
    return hints


@server.command(STATS_COMMAND)
def on_program_stats(ls: KptrLanguageServer, uri: str, program: str) -> str | None:
    text = ls.views.stats_text(uri, program)
    if text is not None:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, text))
    return text


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def on_document_symbol(
    ls: KptrLanguageServer, params: types.DocumentSymbolParams
) -> list[types.DocumentSymbol]:
    await ls.views_settled(params.text_document.uri)
    # In a thread: the first look at declaration lines walks the object's DWARF.
    return await asyncio.to_thread(ls.document_symbols, params.text_document.uri)


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: KptrLanguageServer, params: None) -> None:
    ls.stop_workers()
    warm.POOL.close()
    shutdown_target_vms()  # power off target-kernel VMs now, not only at exit (atexit)

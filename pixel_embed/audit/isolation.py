"""Each URL of ``pixel-embed audit`` in a child process of its own, with its own Chromium.

Why a process rather than Playwright's async API with ``asyncio.wait_for``: cancelling an
``await`` stops the waiting, not the browser. The driver call, the stuck renderer and whatever
the page has allocated stay where they are, in the auditor's process and its one Chromium, for
the next URL to share. A child process can be killed whole, with its driver and its Chromium:
the deadline then holds whatever the page (or a bug of ours) does, and the memory a page makes
the audit spend is the child's, given back when it ends. The runner's per-operation deadlines
still apply inside the child; they make the usual case fail fast with a precise reason, and
this is the bound behind them. The cost is a Chromium start per URL (about a second).

The child runs :func:`main`: it reads one :class:`Job` (pickled) on
its standard input and writes one :class:`Outcome` (pickled) on its standard output.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .result import AuditResult, Step, out_of_time, url_deadline

# The child, run so that what it pickles names this module, not __main__.
_CHILD = "from pixel_embed.audit.isolation import main; raise SystemExit(main())"
#: Megabytes of address space the child's Python may take beyond what it holds once Chromium
#: has started. The probe keeps an honest page's calls far below it; a page that calls
#: Playwright's binding itself (it can: ``window.__playwright__binding__``) to flood the
#: auditor meets this bound instead, and its URL is reported as not audited.
MEMORY_HEADROOM_MB = 1024
#: Seconds a child may take beyond its URL's deadline (Chromium's start, writing the result)
#: before it is killed.
GRACE = 20.0


@dataclass(frozen=True)
class Job:
    """One URL to audit, as the command line asked."""

    url: str
    steps: tuple[Step, ...] = ()
    timeout: float = 15.0
    allow_hosts: tuple[str, ...] = ()
    wait: float = 0.0
    sdk_dir: str | None = None
    deadline: float | None = None
    memory_headroom_mb: int = MEMORY_HEADROOM_MB

    @property
    def seconds(self) -> float:
        """The URL's deadline."""
        if self.deadline is not None:
            return self.deadline
        return url_deadline(self.timeout, len(self.steps), self.wait)


@dataclass(frozen=True)
class Outcome:
    """What a child gave back: the result (a ``WireAudit`` with ``--sdk``), the peak resident
    memory of the child's Python process, and the address space it was held to (its size
    once Chromium was up, plus the job's headroom; ``None`` where it could not be set), in
    kilobytes."""

    result: AuditResult
    wire: Any = None
    peak_rss_kb: int = 0
    memory_limit_kb: int | None = None


def _run(job: Job) -> Outcome:
    from playwright.sync_api import Error as PlaywrightError

    from ..browser.chromium import BrowserNotFound

    try:
        return _audit(job)
    except (BrowserNotFound, PlaywrightError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Outcome(AuditResult(job.url, failure=reason))
    except MemoryError:
        why = f"the page sent the audit more than its {job.memory_headroom_mb} MB of memory"
        return Outcome(AuditResult(job.url, failure=f"could not be audited: {why}"))


def _audit(job: Job) -> Outcome:
    from .network import pinning_rules, resolve
    from .runner import audit, launch_browser
    from .wire import audit_with_sdk

    # The audited host and each allowed host, pinned: Chromium connects to the addresses the
    # private-network check looked at (see pixel_embed.audit.network).
    rules, pinned = pinning_rules([urlsplit(job.url).hostname or "", *job.allow_hosts])
    options: dict[str, Any] = {
        "timeout": job.timeout,
        "allow_hosts": job.allow_hosts,
        "wait": job.wait,
        "deadline": job.seconds,
        "resolver": lambda host: pinned.get(host) or resolve(host),
    }
    wire = None
    with launch_browser([f"--host-resolver-rules={rules}"] if rules else []) as browser:
        limit = _limit_memory(job.memory_headroom_mb)  # after the launch: not Chromium's
        if job.sdk_dir is None:
            result = audit(browser, job.url, job.steps, **options)
        else:
            wire = audit_with_sdk(browser, job.url, job.steps, sdk_dir=job.sdk_dir, **options)
            result = wire.result
    peak = _peak_rss_kb()
    return Outcome(result, wire, peak, None if limit is None else limit // 1024)


def _peak_rss_kb() -> int:
    """This process's peak resident memory since it started its program, in kilobytes.

    Linux's ``ru_maxrss`` survives ``execve``: a child forked from a large parent (a test
    run with every module loaded) reports the parent's size. ``VmHWM`` belongs to the program.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")),
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )


def _limit_memory(headroom_mb: int) -> int | None:
    """Cap this process's address space at what it has now plus ``headroom_mb``; the cap, in
    bytes, or ``None`` where it cannot be set."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None  # not Linux: the deadline still holds
    size = next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmSize:")
    )
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + headroom_mb * 1024 * 1024
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        return limit
    return hard


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Chromium is started in a session of its own, so a process
    group does not hold it), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    pids = [process.pid, *_descendants(process.pid)] if Path("/proc").is_dir() else [process.pid]
    for pid in pids:
        with contextlib.suppress(OSError):  # gone already
            os.kill(pid, signal.SIGKILL)
    process.wait()


def audit_isolated(job: Job, *, grace: float = GRACE) -> Outcome:
    """Audit ``job`` in a child process, killed (with its Chromium) when it overruns."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(pickle.dumps(job), timeout=job.seconds + grace)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        why = "the audit did not finish (its browser stopped answering)"
        return Outcome(AuditResult(job.url, failure=out_of_time(time.monotonic() - started, why)))
    if process.returncode != 0 or not out:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        failure = f"the audit's child process failed (exit status {process.returncode}): {last}"
        return Outcome(AuditResult(job.url, failure=failure[:500]))
    outcome: Outcome = pickle.loads(out)  # our own child's answer
    return outcome


def main() -> int:
    # The result goes out on the real standard output; anything printed on the way goes to
    # standard error, so it cannot corrupt it.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    job: Job = pickle.loads(sys.stdin.buffer.read())  # from our own parent
    outcome = _run(job)
    out.write(pickle.dumps(outcome))
    out.close()
    return 0

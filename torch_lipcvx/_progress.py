"""Progress bars (tqdm, on stderr) for the runs that can take more than a few seconds.

Every long-running entry point (Algorithm 1, its extensions and the regularisation path, ADMM,
training, the CLI, the paper runner) takes ``progress: Optional[bool] = None``:

* ``None``: a bar when stderr is a terminal (so an interactive session sees one; pytest, a pipe
  or a log file do not) and no other bar is open (a run inside a run, e.g. Algorithm 1 inside
  ``postprocess_extended``, adds no second bar) and :func:`suppressed` is not in force;
* ``True`` / ``False``: always / never.

The environment variable ``TORCH_LIPCVX_PROGRESS`` (``0``/``off``/``false`` or ``1``/``on``/
``true``) overrides the terminal test for ``None``, in the library and in the CLI (whose default
is a bar, terminal or not); the test suite sets it to ``0``.

When off, nothing is written and tqdm is not even imported.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Iterator, Optional

__all__ = ["check_progress", "progress_bar", "suppressed", "ProgressBar"]

#: Open bars plus active :func:`suppressed` blocks: while positive, ``progress=None`` is off.
_quiet_depth = 0


@contextlib.contextmanager
def suppressed() -> Iterator[None]:
    """Within this block ``progress=None`` shows no bar (explicit ``True`` still does): for a
    caller that reports progress its own way, e.g. a benchmark runner with one bar per unit."""
    global _quiet_depth
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1


#: Names of the environment variable's values.
_ENV = "TORCH_LIPCVX_PROGRESS"
_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no")


def env_progress() -> Optional[bool]:
    """``TORCH_LIPCVX_PROGRESS`` read as True/False, or None when unset or empty.

    Raises:
        ValueError: a value that is neither on (1/on/true/yes) nor off (0/off/false/no).
    """
    text = os.environ.get(_ENV, "").strip().lower()
    if not text:
        return None
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError(f"environment variable {_ENV} must be one of {_ON + _OFF}, got {text!r}")


def check_progress(progress: Optional[bool], name: str = "progress") -> bool:
    """Resolve ``progress`` (None, True or False) to whether a bar is shown."""
    if progress is None:
        if _quiet_depth > 0:
            return False
        env = env_progress()
        if env is not None:
            return env
        try:
            return bool(sys.stderr is not None and sys.stderr.isatty())
        except (AttributeError, ValueError):    # a replaced or closed stderr
            return False
    if not isinstance(progress, bool):
        raise TypeError(f"{name} must be True, False or None (on when stderr is a terminal), "
                        f"got {progress!r}")
    return progress


class ProgressBar:
    """A tqdm bar on stderr, or nothing at all when off; a context manager.

    ``update(n, **postfix)`` advances the bar and shows ``postfix`` (e.g. ``J=0.0123``);
    ``note(**postfix)`` shows more of it without advancing (e.g. an interior point's iteration
    and gap inside one long step), redrawn at most every :attr:`NOTE_EVERY` seconds;
    ``write(text)`` prints a line to stdout (through tqdm when a bar is shown, so the bar is
    redrawn below it instead of being torn); ``close()`` ends the bar.
    """

    #: seconds between two redraws by :meth:`note` (a note per fast iteration costs nothing)
    NOTE_EVERY = 0.5

    def __init__(self, enabled: bool, total: Optional[int], desc: str, unit: str = "it",
                 leave: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._postfix: dict = {}      # the last update's
        self._notes: dict = {}        # shown beside it until the next update
        self._drawn = 0.0
        if enabled:
            global _quiet_depth
            from tqdm import tqdm   # deferred: only a run that shows a bar pays for it
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                             dynamic_ncols=True)
            _quiet_depth += 1       # runs inside this one show no second bar by default

    def update(self, n: int = 1, **postfix: Any) -> None:
        if self._bar is None:
            return
        if postfix:                       # a step's result: it replaces the notes of the step
            self._postfix, self._notes = _shown(postfix), {}
            self._bar.set_postfix(self._postfix, refresh=False)
        self._bar.update(n)

    def note(self, **postfix: Any) -> None:
        """Show ``postfix`` beside the last :meth:`update`'s until the next one, redrawing the
        bar if it was last drawn :attr:`NOTE_EVERY` seconds ago."""
        if self._bar is None:
            return
        self._notes.update(_shown(postfix))
        self._bar.set_postfix({**self._postfix, **self._notes}, refresh=False)
        now = time.monotonic()
        if now - self._drawn >= self.NOTE_EVERY:
            self._drawn = now
            self._bar.refresh()

    def write(self, text: str) -> None:
        if self._bar is None:
            print(text, flush=True)
        else:
            self._bar.write(text, file=sys.stdout)
            sys.stdout.flush()

    def close(self, finished: bool = False) -> None:
        """End the bar; ``finished``: the run is complete even if it stopped before ``total``
        (e.g. Algorithm 1 converged), so the bar ends full at the steps actually taken."""
        if self._bar is not None:
            if finished and self._bar.total is not None and self._bar.n < self._bar.total:
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()
            self._bar = None
            global _quiet_depth
            _quiet_depth -= 1

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(finished=exc_type is None)


def _shown(postfix: dict) -> dict:
    """A postfix as the bar shows it (floats to 6 significant digits)."""
    return {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in postfix.items()}


def progress_bar(progress: Optional[bool], total: Optional[int], desc: str, unit: str = "it",
                 leave: bool = True) -> ProgressBar:
    """A :class:`ProgressBar` for ``total`` steps, shown when ``check_progress(progress)``."""
    return ProgressBar(check_progress(progress), total, desc, unit, leave)

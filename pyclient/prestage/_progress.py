"""How an import waiting for a build shows the build's progress: one line updated in place on a
terminal, a line per new fraction (rate-limited) when stderr is not a terminal, an updating
display in Jupyter. It is fed the `progress` ({message, done?, total?}) of each spec/resolve
timeout (docs/protocol.md, "Build progress")."""
import shutil
import sys
import time

SLICE_S = 0.25  # spec/resolve `wait` per ask while progress is shown: a long poll, not a busy one
LINE_INTERVAL_S = 1.0  # not a terminal: at most one line per second


def fraction_of(progress):
    """(done, total) of a progress dict, or None when it has no honest fraction."""
    if not isinstance(progress, dict):
        return None
    done, total = progress.get("done"), progress.get("total")
    if isinstance(done, int) and isinstance(total, int) and 0 <= done <= total and total > 0:
        return done, total
    return None


def describe(name, progress):
    """'prestage: building pkg [12/40] Building CXX object ...', or the waiting line without progress."""
    message = progress.get("message", "") if isinstance(progress, dict) else ""
    if not isinstance(message, str) or not message.strip():
        return f"prestage: waiting for the build providing {name!r}..."
    message = " ".join(message.split())
    fraction = fraction_of(progress)
    if fraction is not None and not message.startswith("["):  # ninja's lines carry it already
        message = f"[{fraction[0]}/{fraction[1]}] {message}"
    return f"prestage: building {name} {message}"


def _notebook_display():
    """IPython.display's display() when running in a Jupyter kernel whose display hook is active."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
        from IPython.display import display
    except Exception:  # noqa: BLE001 - a broken IPython only means text
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None or getattr(shell, "displayhook", None) is None:
        return None
    return display


class _View:
    """What the notebook shows: a progress bar with the line, or the line alone."""

    def __init__(self, text, fraction):
        self.text, self.fraction = text, fraction

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        import html

        bar = "" if self.fraction is None else f'<progress value="{self.fraction[0]}" max="{self.fraction[1]}"></progress> '
        return f"<div>{bar}<code>{html.escape(self.text)}</code></div>"


class BuildProgressReporter:
    """Shows one waiting import's build progress until close()."""

    def __init__(self, name, stream=None, clock=time.monotonic):
        self.name = name
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.slice_s = SLICE_S
        self._display = _notebook_display()
        self._handle = None
        try:
            self._tty = bool(self.stream.isatty())
        except Exception:  # noqa: BLE001 - a replaced stderr without isatty
            self._tty = False
        self._shown = ""  # the terminal line now on screen
        self._printed = False
        self._last_fraction = None
        self._last_line_at = None

    def update(self, progress):
        text = describe(self.name, progress)
        fraction = fraction_of(progress)
        if self._display is not None and self._show_in_notebook(text, fraction):
            return
        if self._tty:
            self._show_on_terminal(text)
        else:
            self._print_line(text, fraction)

    def close(self):
        """Clears the terminal line (the notebook display, if any, is emptied)."""
        if self._handle is not None:
            try:
                self._handle.update(_View("", None))
            except Exception:  # noqa: BLE001
                pass
            self._handle = None
        if self._tty and self._shown:
            self._write("\r" + " " * len(self._shown) + "\r")
            self._shown = ""

    def _show_in_notebook(self, text, fraction):
        view = _View(text, fraction)
        try:
            if self._handle is None:
                self._handle = self._display(view, display_id=True)
            else:
                self._handle.update(view)
            return self._handle is not None
        except Exception:  # noqa: BLE001 - fall back to text
            self._display = self._handle = None
            return False

    def _show_on_terminal(self, text):
        width = shutil.get_terminal_size((80, 24)).columns
        text = text[: max(width - 1, 10)]
        if text == self._shown:
            return
        self._write("\r" + text.ljust(len(self._shown)))
        self._shown = text

    def _print_line(self, text, fraction):
        now = self.clock()
        if self._printed:
            if fraction is None or fraction == self._last_fraction:
                return
            if now - self._last_line_at < LINE_INTERVAL_S:
                return
        self._write(text + "\n")
        self._printed = True
        self._last_fraction = fraction
        self._last_line_at = now

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a closed stderr must not break the import
            pass

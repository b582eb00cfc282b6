"""Errors raised by the prestage client.

Every error an import or reload can raise is a PrestageError, and PrestageError is an ImportError
(as with maturin-import-hook: one ImportError subclass for everything the hook raises), so code that
handles a failed import handles these too.

The JSON-RPC codes come from the one table, schemas/error-codes.json (via the generated _error_codes)."""
from ._error_codes import BUILD_FAILED, BUILD_TIMEOUT, CODES, NOT_BUILT  # noqa: F401  (re-exported)


class PrestageError(ImportError):
    """The daemon could not be reached, or answered with an error."""


class DaemonUnavailable(PrestageError):
    """No daemon is running for the state dir and none could be started (or it went away)."""


class RpcError(PrestageError):
    """A JSON-RPC error answer from the daemon."""

    def __init__(self, code, message, data=None):
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code
        self.rpc_message = message
        self.data = data


class BuildTimeout(PrestageError):
    """The build an import waits for did not finish within the finder's wait_timeout."""


class BuildError(PrestageError):
    """The newest build of a project failed; the message holds the compiler's diagnostics."""

    def __init__(self, message, *, name=None, project=None, generation=None, diagnostics=(), log_tail=""):
        super().__init__(message, name=name)
        self.project = project
        self.generation = generation
        self.diagnostics = list(diagnostics or ())
        self.log_tail = log_tail or ""

    @classmethod
    def from_rpc_data(cls, module_name, data):
        data = data if isinstance(data, dict) else {}
        diagnostics = data.get("diagnostics") or []
        lines = [f"prestage: the newest build of {module_name!r} failed"]
        for diagnostic in diagnostics:
            lines.append(
                f"{diagnostic.get('file', '?')}:{diagnostic.get('line', 0)}:{diagnostic.get('column', 0)}: "
                f"{diagnostic.get('severity', 'error')}: {diagnostic.get('message', '')}"
            )
        log_tail = data.get("log_tail") or ""
        if not diagnostics and log_tail:
            lines.append(log_tail.rstrip())
        return cls(
            "\n".join(lines),
            name=module_name,
            project=data.get("project"),
            generation=data.get("generation"),
            diagnostics=diagnostics,
            log_tail=log_tail,
        )


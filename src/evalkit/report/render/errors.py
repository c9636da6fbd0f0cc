"""The one error type of the render engine."""

from __future__ import annotations

from evalkit.errors import EvalkitError

__all__ = ["RenderError"]


class RenderError(EvalkitError):
    """A report could not be rendered.

    Raised for a malformed ``.qmd``, a chunk that raised, a failing pandoc, typst or
    Quarto run, an unresolved cross-reference or an unknown output format. The message
    is one line; :attr:`log` holds the full details (a traceback or converter output)
    for a log file.
    """

    #: Full details of the failure, e.g. the chunk's traceback; empty when the message
    #: says it all.
    log: str = ""

    def with_log(self, log: str) -> RenderError:
        """Attach details for a log file and return the error (for ``raise ... from``)."""
        self.log = log
        return self

"""What every CLI of the project shares: one-line errors, exit codes, logging flags, atomic writes.

CLIs stay thin: they parse arguments, call library functions and print. Errors the project
raises on purpose (:class:`~graphsolvers.errors.ToolkitError`) and bad arguments become one line
on stderr and exit code 2; output files are written to a temporary name and renamed, so a failed
run never leaves a half-written file behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from graphsolvers.errors import ToolkitError

__all__ = ["EXIT_USAGE", "HelpFormatter", "OneLineArgumentParser", "add_verbosity", "run_cli", "write_atomic"]

EXIT_USAGE = 2


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    r"""Help text that wraps one-line paragraphs (descriptions) to the terminal and keeps paragraphs
    written with line breaks (examples in epilogs) as they are.

    Examples
    --------
    >>> f = HelpFormatter("prog", width=30)
    >>> print(f._fill_text("one two three four five six seven eight", 30, ""))
    one two three four five six
    seven eight
    >>> print(f._fill_text("Example:\n  prog --flag", 30, ""))
    Example:
      prog --flag
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for paragraph in text.split("\n\n"):
            raw = "\n" in paragraph
            out.append(super()._fill_text(paragraph, width, indent) if raw else _wrap(self, paragraph, width, indent))
        return "\n\n".join(out)


def _wrap(formatter: argparse.HelpFormatter, text: str, width: int, indent: str) -> str:
    return argparse.HelpFormatter._fill_text(formatter, text, width, indent)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are a single line on stderr (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose`` and ``-q/--quiet`` (mapped to logging levels by :func:`run_cli`)."""
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")


def run_cli(
    build_parser: Callable[[], argparse.ArgumentParser],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv``, run the chosen sub-command and turn deliberate errors into exit code 2.

    The parser's sub-commands set ``func`` (``args -> int | None``) with ``set_defaults``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (
        logging.ERROR
        if getattr(args, "quiet", False)
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(getattr(args, "verbose", 0), 2)]
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except ToolkitError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"{parser.prog}: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomic(d / "out.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""What every CLI of the project shares: one-line errors, exit codes, logging flags, atomic writes.

CLIs stay thin: they parse arguments, call library functions and print. Errors the project
raises on purpose (:class:`~graphsolvers.errors.ToolkitError`), bad arguments and what hostile
input can make the interpreter raise (``OSError``, ``RecursionError``, ``MemoryError``) become one
line on stderr and exit code 2; anything else is a bug, reported in one line with exit code 1 (the
traceback goes to the debug log, ``-vv``). Output paths are checked before the work starts
(:func:`check_output`); output files are written to a temporary name in their own folder and
renamed (:func:`write_atomic`, :func:`staged_folder`), so a failed run never leaves a half-written
file, a temporary file or a new folder behind.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from graphsolvers.errors import OptionError, OutputPathError, ToolkitError
from graphsolvers.extras import missing_extra

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "EXIT_BUG",
    "EXIT_USAGE",
    "HelpFormatter",
    "OneLineArgumentParser",
    "add_command",
    "add_verbosity",
    "check_at_least",
    "check_output",
    "command_parser",
    "option_error",
    "options",
    "run_cli",
    "staged_folder",
    "write_atomic",
]

EXIT_USAGE = 2
EXIT_BUG = 1


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


def command_parser(prog: str, *, description: str, epilog: str) -> tuple[argparse.ArgumentParser, Any]:
    """The top-level parser of a project CLI (one-line usage errors, -v/-q) and its sub-command parsers.

    Examples
    --------
    >>> parser, sub = command_parser("tool", description="Does things.", epilog="Example: tool go")
    >>> _ = sub.add_parser("go").set_defaults(func=lambda args: 0)
    >>> parser.parse_args(["-v", "go"]).verbose
    1
    """
    parser = OneLineArgumentParser(prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter)
    add_verbosity(parser)
    return parser, parser.add_subparsers(title="commands", metavar="COMMAND")


def add_command(
    sub: Any,
    func: Callable[[argparse.Namespace], int | None] | None = None,
    *,
    name: str | None = None,
    help: str | None = None,
    description: str | None = None,
    epilog: str | None = None,
) -> Any:
    """A sub-command that runs ``func``, named and described by ``func`` itself unless told otherwise.

    One source for a command's words, as for the graph tools: the name is the function's without its leading
    underscore, ``_`` read as ``-`` (``_eval_parse`` is ``eval-parse``); the docstring's first paragraph is the
    one-line help in the command list, its other paragraphs the description (each paragraph one line, which the
    help formatter wraps). A command without ``func`` only holds sub-commands: run bare, it prints its help to
    stderr and exits with :data:`EXIT_USAGE`.

    Parameters
    ----------
    sub : argparse sub-parsers
        Where to add the command (:func:`command_parser`'s second value).
    func : callable, optional
        ``args -> int | None``, the command's handler (``set_defaults(func=...)``).
    name, help, description : str, optional
        Instead of what ``func`` says (``name`` and ``help`` are required without ``func``); a ``description``
        given here keeps its line breaks (a table, say).
    epilog : str, optional
        Examples, printed after the options with their line breaks.

    Examples
    --------
    >>> def _eval_parse(args):
    ...     '''score the parser
    ...
    ...     Parse every chart and
    ...     score it.
    ...     '''
    >>> parser, sub = command_parser("tool", description="Does things.", epilog="Example: tool eval-parse")
    >>> command = add_command(sub, _eval_parse)
    >>> command.prog, command.description, parser.parse_args(["eval-parse"]).func is _eval_parse
    ('tool eval-parse', 'Parse every chart and score it.', True)
    """
    doc = _docstring_paragraphs(func)
    if func is not None and name is None:
        name = func.__name__.lstrip("_").replace("_", "-")
    parser = sub.add_parser(
        name,
        help=doc[0] if help is None and doc else help,
        description=("\n\n".join(doc[1:]) or None) if description is None else description,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=func or functools.partial(_print_help, parser))
    return parser


def _docstring_paragraphs(func: Callable | None) -> list[str]:
    """The paragraphs of ``func``'s docstring, each joined into one line."""
    text = inspect.getdoc(func) if func is not None else None
    return [" ".join(p.split()) for p in (text or "").split("\n\n") if p.strip()]


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def options(args: argparse.Namespace, *names: str, prefix: str = "") -> dict[str, Any]:
    """The options ``names`` (read as ``prefix + name``) as keyword arguments of a library call.

    Examples
    --------
    >>> options(argparse.Namespace(llm_model="m", llm_path=None, seed=1), "model", "path", prefix="llm_")
    {'model': 'm', 'path': None}
    """
    return {name: getattr(args, prefix + name) for name in names}


def check_at_least(args: argparse.Namespace, **minimum: int) -> None:
    """Refuse an option below its minimum (options left unset, ``None``, pass), in the order given.

    Raises
    ------
    OptionError
        ``--NAME must be at least MIN, got VALUE`` for the first option below its minimum.

    Examples
    --------
    >>> check_at_least(argparse.Namespace(limit=None, max_iter=0), limit=1, max_iter=1)
    Traceback (most recent call last):
    ...
    graphsolvers.errors.OptionError: --max-iter must be at least 1, got 0
    """
    for name, least in minimum.items():
        value = getattr(args, name)
        if value is not None and value < least:
            raise OptionError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")


def option_error(error: ValidationError, *, prefix: str = "--") -> str:
    """The first problem of a pydantic error over options as one line naming the option (``--llm-model: ...``).

    Examples
    --------
    >>> from pydantic import BaseModel, ValidationError
    >>> class Options(BaseModel):
    ...     max_steps: int
    >>> try:
    ...     Options(max_steps="x")
    ... except ValidationError as e:
    ...     print(option_error(e, prefix="--llm-"))
    --llm-max-steps: Input should be a valid integer, unable to parse string as an integer
    """
    err = error.errors()[0]
    where = f"{prefix}{str(err['loc'][0]).replace('_', '-')}: " if err["loc"] else ""
    return where + err["msg"].removeprefix("Value error, ")


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
        _say(parser.prog, f"error: {e}")
        return EXIT_USAGE
    except BrokenPipeError:  # before OSError: the reader of stdout went away, nothing to report
        return 0
    except OSError as e:
        _say(parser.prog, f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "))
        return EXIT_USAGE
    except RecursionError:
        _say(parser.prog, "error: the input is nested too deeply to process")
        return EXIT_USAGE
    except MemoryError:
        _say(parser.prog, "error: out of memory; the input is too large for this machine")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except ImportError as e:  # an optional part used without its extra: say which extra to install
        err = missing_extra(e)
        if err is None:
            return _internal_error(parser.prog, e)
        _say(parser.prog, f"error: {err}")
        return EXIT_USAGE
    except Exception as e:
        return _internal_error(parser.prog, e)


def _internal_error(prog: str, e: Exception) -> int:
    """A bug, not bad input: one line all the same, the traceback in the debug log."""
    logging.getLogger(prog).debug("internal error", exc_info=True)
    _say(
        prog,
        f"internal error: {type(e).__name__}: {e} (a bug: please report it with the command; -vv shows the traceback)",
    )
    return EXIT_BUG


def _say(prog: str, message: str) -> None:
    """One line on stderr, however many lines ``message`` has (a library's message may span several)."""
    print(f"{prog}: {' '.join(message.split())}", file=sys.stderr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    Missing parent folders are created; when the write fails they are removed again with the
    temporary file, and the ``OSError`` names ``path``, never the temporary name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomic(d / "new" / "out.txt", "hello").read_text()
    'hello'
    """
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    with _user_path_in_errors(path), _parents_made(path):
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


def check_output(
    path: str | os.PathLike[str],
    *,
    flag: str,
    kind: Literal["file", "folder"] = "file",
    inputs: Iterable[str | os.PathLike[str]] = (),
    empty: bool = False,
) -> Path:
    """Check an output path before the work starts, so a run never fails at its end over where to write.

    Parameters
    ----------
    path : path
        Where the command will write.
    flag : str
        How the user named it (``--out``, ``-o``, ``OUTPUT``), for the messages.
    kind : {"file", "folder"}
        What will be written there.
    inputs : paths
        The command's input files and folders: an output that resolves to one of them is refused.
    empty : bool
        A folder output must not exist or be empty.

    Raises
    ------
    OutputPathError
        If ``path`` is an input, exists as the other kind (a folder where a file is wanted or the other way
        round), is a non-empty folder when ``empty``, or lies under a file or a folder that cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output(d / "new" / "out.jsonl", flag="--jsonl") == d / "new" / "out.jsonl"
    True
    >>> check_output(d, flag="--jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphsolvers.errors.OutputPathError: --jsonl ...: is a folder; give a file name
    >>> (d / "chart.png").write_bytes(b"x")
    1
    >>> check_output(d / "chart.png", flag="--jsonl", inputs=[d / "chart.png"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphsolvers.errors.OutputPathError: --jsonl ...chart.png: is also an input; writing it would overwrite the input
    """
    path = Path(path)
    where = f"{flag} {path}"
    resolved = path.resolve()
    if any(resolved == Path(p).resolve() for p in inputs):
        raise OutputPathError(f"{where}: is also an input; writing it would overwrite the input")
    if kind == "file" and path.is_dir():
        raise OutputPathError(f"{where}: is a folder; give a file name")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise OutputPathError(f"{where}: is a file; give a folder")
    if kind == "folder" and empty and path.is_dir() and any(path.iterdir()):
        raise OutputPathError(f"{where}: folder exists and is not empty; choose a new or empty folder")
    ancestor = (path if kind == "folder" and path.is_dir() else path.parent).absolute()
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{where}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"{where}: cannot write in folder {ancestor} (permission denied)")
    return path


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike[str], *, merge: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``path`` to write a whole output folder into, put in place when the block ends.

    On success the temporary folder becomes ``path`` (an empty ``path`` is replaced; with ``merge`` its
    files are moved into an existing ``path``, replacing files of the same name). On failure the temporary
    folder and any parent folders made for it are removed, and ``path`` is as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_folder(d / "run") as tmp:
    ...     _ = (tmp / "result.json").write_text("{}")
    >>> sorted(p.name for p in d.iterdir()), (d / "run" / "result.json").read_text()
    (['run'], '{}')
    """
    path = Path(path)
    with _user_path_in_errors(path), _parents_made(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            yield tmp
            if merge and path.is_dir():
                for f in sorted(tmp.iterdir()):
                    os.replace(f, path / f.name)
                tmp.rmdir()
            else:
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def _parents_made(path: Path) -> Iterator[None]:
    """Make the missing parent folders of ``path``; remove those made here again if the block fails."""
    made = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        made.append(parent)
        parent = parent.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in made:  # deepest first; one that is not empty any more stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise


@contextlib.contextmanager
def _user_path_in_errors(path: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` about a temporary name beside ``path`` (``.NAME.xxxx``, or a file inside such a
    folder) as the same error about ``path``: messages name what the user asked for, never a temporary name."""
    try:
        yield
    except OSError as e:
        name, name2 = _user_name(e.filename, path), _user_name(e.filename2, path)
        if e.errno is None or (name, name2) == (e.filename, e.filename2):
            raise
        raise type(e)(e.errno, e.strerror, name, None, name2) from e


def _user_name(name: object, path: Path) -> object:
    if not isinstance(name, str | os.PathLike):
        return name
    p = Path(os.fsdecode(name))
    for folder in (p, *p.parents):
        if folder.name.startswith(f".{path.name}.") and folder.parent == path.parent:
            return str(path / p.relative_to(folder))
    return name

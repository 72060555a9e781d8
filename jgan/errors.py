"""The one exception type that train.py and the tools turn into a one-line message, and the tools' entry point."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

from absl import app, logging


class JganError(Exception):
  """A user-facing problem: the message names what is wrong and how to fix it, in one line."""


def fail(message: str) -> NoReturn:
  """Ends a command-line program with `error: message` on stderr and exit status 2 (a usage error)."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
  """For a program's main: a JganError raised inside ends it through `fail`, not with a traceback."""
  try:
    yield
  except JganError as error:
    fail(str(error))


def run_program(main: Callable[[], None]) -> None:
  """Runs a tool's `main` after absl has parsed its flags: positional arguments and a JganError each end it with
  one line, and the libraries' INFO logs (Orbax and TFDS log every read) are hidden."""
  def body(argv: list[str]) -> None:
    if len(argv) > 1:
      fail(f'unexpected arguments {" ".join(argv[1:])}: flags are written --name=value')
    logging.set_verbosity(logging.WARNING)
    with exit_on_error():
      main()

  app.run(body)

"""The one exception type that train.py and the tools turn into a one-line message."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import NoReturn


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

"""The one exception type that train.py and the tools turn into a one-line message."""


class JganError(Exception):
  """A user-facing problem: the message names what is wrong and how to fix it, in one line."""

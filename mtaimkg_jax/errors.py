"""The project's error types: every bad input names where it came from."""

from __future__ import annotations

import os


class MtaimkgError(Exception):
  """Base class of every error the project raises on purpose."""


class DataError(MtaimkgError, ValueError):
  """A data file is missing or malformed; the message names file and line."""

  def __init__(self, path: str | os.PathLike, message: str,
               line: int | None = None):
    self.path = os.fspath(path)
    self.line = line
    self.reason = message
    where = self.path if line is None else f'{self.path}:{line}'
    super().__init__(f'{where}: {message}')


class ConfigError(MtaimkgError, ValueError):
  """A config value is invalid; the message names the config key."""

  def __init__(self, key: str, message: str):
    self.key = key
    self.reason = message
    super().__init__(f'config.{key}: {message}')


class BudgetError(MtaimkgError, ValueError):
  """A graph does not fit any padding budget; the message gives the need."""


class TrainingError(MtaimkgError, RuntimeError):
  """Training cannot go on (e.g. a non-finite loss); names the step."""


def _listing(problems: list[MtaimkgError]) -> str:
  return f'{len(problems)} problems:\n' + '\n'.join(f'  {p}'
                                                     for p in problems)


class InputErrors(MtaimkgError, ValueError):
  """Several bad inputs found in one pass (files of several datasets, say);
  each names its own file and line or config key."""

  def __init__(self, errors: list[MtaimkgError]):
    self.errors = list(errors)
    super().__init__(_listing(self.errors))


def raise_together(problems: list[MtaimkgError]) -> None:
  """Raises the one problem as it is; several config problems as one
  `ConfigError` (the first one's key) listing them all, and any other mix
  as one `InputErrors`."""
  if len(problems) == 1:
    raise problems[0]
  if problems and all(isinstance(p, ConfigError) for p in problems):
    raise ConfigError(problems[0].key, _listing(problems))
  if problems:
    raise InputErrors(problems)

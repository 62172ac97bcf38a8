"""A safe reader of PyTorch `.pth` files (torch's zip format), without torch.

`torch.save` writes a zip with `<prefix>/data.pkl` (a pickle that rebuilds
tensors from storages) and `<prefix>/data/<key>` (the raw storages). Plain
`pickle.load` would execute whatever the pickle names; this reader allows
only the handful of globals a state dict uses, maps them to local
constructors, and builds numpy arrays from the raw bytes. Anything else is
a `DataError` naming the global, and nothing foreign ever runs. Each
tensor's extent is checked against its storage, and its size and each
record's against `MAX_TENSOR_BYTES`, and the sizes the file's records and
tensors declare in all against `MAX_FILE_BYTES`, before anything is
allocated: tensors are built only once the whole pickle has been read.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import zipfile
from typing import Any, Iterator, NamedTuple

import numpy as np

from mtaimkg_jax.errors import DataError

_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64,
    'HalfStorage': np.float16, 'BFloat16Storage': 'bfloat16',
    'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8,
    'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


# No tensor or storage record of a checkpoint this project reads comes near
# this (ULTRA's are kilobytes); a larger one is refused before allocation.
MAX_TENSOR_BYTES = 2**31
# Nor do all of a file's records, or all of its tensors, together: a small
# file whose entries declare more (e.g. compressed zeros) is refused whole.
MAX_FILE_BYTES = 2**30


class _StorageType:
  def __init__(self, name: str):
    self.name = name


class _Tensor(NamedTuple):
  """A checked view of a storage, copied out (`array`) only once the whole
  file's tensors are known to fit `MAX_FILE_BYTES`."""
  storage: np.ndarray
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]

  @property
  def nbytes(self) -> int:
    return math.prod(self.size) * self.storage.itemsize

  def array(self) -> np.ndarray:
    item = self.storage.itemsize
    return np.array(np.lib.stride_tricks.as_strided(
        self.storage[self.offset:], shape=self.size,
        strides=[st * item for st in self.stride]))


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride,
                    *unused) -> _Tensor:
  del unused
  size, stride = tuple(size), tuple(stride)
  if (len(size) != len(stride) or not
      all(isinstance(x, int) for x in (offset, *size, *stride))):
    raise ValueError(f'tensor size {size!r:.100}, stride {stride!r:.100} and '
                     f'offset {offset!r:.20} are not integers of one rank')
  if any(s < 0 for s in size):
    raise ValueError(f'tensor size {size} is negative')
  item = storage.itemsize
  numel = math.prod(size)
  if numel * item > MAX_TENSOR_BYTES:
    raise ValueError(f'tensor of size {size} needs {numel * item} bytes, over '
                     f'the {MAX_TENSOR_BYTES} byte cap')
  needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if (
      numel) else offset
  if offset < 0 or any(st < 0 for st in stride) or needed > storage.size:
    raise ValueError(f'tensor of size {size}, stride {stride} and offset '
                     f'{offset} does not fit its storage of {storage.size}')
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(tensor, requires_grad=None, backward_hooks=None,
                       *unused):
  del requires_grad, backward_hooks, unused
  return tensor


_ALLOWED = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    **{('torch', name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):

  def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str,
               byteorder: str, path: str):
    super().__init__(io.BytesIO(data))
    self._archive = archive
    self._prefix = prefix
    self._byteorder = '>' if byteorder == 'big' else '<'
    self._path = path
    self._cache: dict[str, np.ndarray] = {}

  def find_class(self, module: str, name: str):
    allowed = _ALLOWED.get((module, name))
    if allowed is None:
      raise DataError(self._path, f'forbidden global {module}.{name} in the '
                      'pickle: not a plain state dict')
    return allowed

  def persistent_load(self, pid):
    if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != 'storage' or
        not isinstance(pid[1], _StorageType)):
      raise DataError(self._path, f'unsupported persistent id {pid!r:.100}')
    storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
    if key not in self._cache:
      name = f'{self._prefix}/data/{key}'
      try:
        raw = _read_record(self._archive, name, self._path)
      except KeyError:
        raise DataError(self._path, f'missing storage record {name}') from None
      dtype = _STORAGE_DTYPES[storage_type.name]
      if dtype == 'bfloat16':
        halves = np.frombuffer(raw, self._byteorder + 'u2')
        array = (halves.astype(np.uint32) << 16).view(np.float32)
      else:
        array = np.frombuffer(raw, np.dtype(dtype).newbyteorder(
            self._byteorder))
      if array.size < numel:
        raise DataError(self._path, f'storage {name} holds {array.size} '
                        f'values, expected {numel}')
      self._cache[key] = array.astype(array.dtype.newbyteorder('='),
                                      copy=False)
    return self._cache[key]


def _read_record(archive: zipfile.ZipFile, name: str, path: str) -> bytes:
  """One record of the zip, refused before reading when its declared size
  is over the cap (the reader never returns more than that size)."""
  size = archive.getinfo(name).file_size
  if size > MAX_TENSOR_BYTES:
    raise DataError(path, f'record {name} declares {size} bytes, over the '
                    f'{MAX_TENSOR_BYTES} byte cap')
  return archive.read(name)


def _tensors(value: Any) -> Iterator[_Tensor]:
  """Every tensor of an unpickled object, however nested."""
  if isinstance(value, _Tensor):
    yield value
  elif isinstance(value, dict):
    for item in value.values():
      yield from _tensors(item)
  elif isinstance(value, (list, tuple)):
    for item in value:
      yield from _tensors(item)


def _flatten(value: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
  if isinstance(value, _Tensor):
    out[prefix] = value.array()
  elif isinstance(value, dict):
    for key, item in value.items():
      _flatten(item, f'{prefix}.{key}' if prefix else str(key), out)


def load_state_dict(path: str | os.PathLike,
                    key: str | None = 'model') -> dict[str, np.ndarray]:
  """Tensors of a `.pth` as numpy arrays, by name.

  With `key`, returns that entry of the saved dict (ULTRA saves its state
  dict under 'model'); with None, every tensor of the file, flattened.
  """
  path = os.fspath(path)
  try:
    archive = zipfile.ZipFile(path)
  except FileNotFoundError:
    raise DataError(path, 'file not found') from None
  except (zipfile.BadZipFile, OSError) as e:
    raise DataError(path, f'not a torch zip checkpoint ({e})') from None
  with archive:
    try:
      pickles = [n for n in archive.namelist() if n.endswith('/data.pkl')]
      if not pickles:
        raise DataError(path, 'no data.pkl: not a torch zip checkpoint')
      prefix = pickles[0][:-len('/data.pkl')]
      declared = sum(info.file_size for info in archive.infolist())
      if declared > MAX_FILE_BYTES:
        raise DataError(path, f'its records declare {declared} bytes in all, '
                        f'over the {MAX_FILE_BYTES} byte cap of a file')
      names = set(archive.namelist())
      byteorder = 'little'
      if f'{prefix}/byteorder' in names:
        byteorder = _read_record(archive, f'{prefix}/byteorder',
                                 path).decode().strip()
      data = _read_record(archive, pickles[0], path)
      obj = _Unpickler(data, archive, prefix, byteorder, path).load()
    except DataError:
      raise
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, ValueError,
            TypeError, KeyError, IndexError, AttributeError, OSError) as e:
      raise DataError(path, f'corrupt checkpoint ({type(e).__name__}: '
                      f'{e})') from None
  try:
    declared = sum(t.nbytes for t in _tensors(obj))
  except RecursionError:
    raise DataError(path, 'nested too deeply: not a plain state dict') from None
  if declared > MAX_FILE_BYTES:
    raise DataError(path, f'its tensors declare {declared} bytes in all, over '
                    f'the {MAX_FILE_BYTES} byte cap of a file')
  if key is not None:
    if not isinstance(obj, dict) or key not in obj:
      raise DataError(path, f'no entry {key!r} in the checkpoint')
    obj = obj[key]
  out: dict[str, np.ndarray] = {}
  _flatten(obj, '', out)
  return out

"""The safe `.pth` reader on hostile files: code in the pickle, corrupt
archives, views past their storage, sizes that would exhaust memory."""

import os
import pickle
import zipfile

import numpy as np
import pytest

from mtaimkg_jax.errors import DataError
from mtaimkg_jax.models import torch_checkpoint


def test_reader_refuses_code_in_the_pickle(tmp_path):
  marker = tmp_path / 'pwned'

  class Evil:

    def __reduce__(self):
      return (os.system, (f'touch {marker}',))

  path = tmp_path / 'evil.pth'
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', pickle.dumps({'model': Evil()},
                                                      protocol=2))
  with pytest.raises(DataError, match='forbidden global'):
    torch_checkpoint.load_state_dict(path)
  assert not marker.exists()


@pytest.mark.parametrize('content', [b'', b'not a zip', b'PK\x03\x04junk'])
def test_reader_rejects_corrupt_files(tmp_path, content):
  path = tmp_path / 'bad.pth'
  path.write_bytes(content)
  with pytest.raises(DataError):
    torch_checkpoint.load_state_dict(path)
  with pytest.raises(DataError, match='file not found'):
    torch_checkpoint.load_state_dict(tmp_path / 'absent.pth')


def _torch_like_pickle(tensors: dict) -> bytes:
  """A pickle laid out as torch.save writes one: tensors rebuilt by
  `torch._utils._rebuild_tensor_v2` from storage 0 (a `torch.FloatStorage`).
  Stand-in modules make pickle emit those global names; no torch needed."""
  import io
  import sys
  import types

  def rebuild():
    pass

  class FloatStorage:
    pass

  class Storage:
    pass

  class Tensor:

    def __init__(self, offset, size, stride):
      self.args = (offset, size, stride)

    def __reduce__(self):
      return (rebuild, (Storage(), *self.args, False, {}))

  class Pickler(pickle.Pickler):

    def persistent_id(self, obj):
      return (('storage', FloatStorage, '0', 'cpu', 12)
              if isinstance(obj, Storage) else None)

  rebuild.__module__, rebuild.__qualname__ = 'torch._utils', '_rebuild_tensor_v2'
  FloatStorage.__module__, FloatStorage.__qualname__ = 'torch', 'FloatStorage'
  fakes = {'torch': types.ModuleType('torch'),
           'torch._utils': types.ModuleType('torch._utils')}
  fakes['torch'].FloatStorage = FloatStorage
  fakes['torch._utils']._rebuild_tensor_v2 = rebuild
  saved = {k: sys.modules.get(k) for k in fakes}
  sys.modules.update(fakes)
  try:
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(
        {'model': {k: Tensor(*v) for k, v in tensors.items()}})
    return buffer.getvalue()
  finally:
    for k, v in saved.items():
      if v is None:
        sys.modules.pop(k, None)
      else:
        sys.modules[k] = v


def _pth(path, tensors, storage=np.arange(12, dtype=np.float32)):
  """A `.pth` of `tensors` ({name: (offset, size, stride)}) over `storage`."""
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', _torch_like_pickle(tensors))
    archive.writestr('archive/data/0', storage.tobytes())
  return path


def test_reader_honours_offsets_and_strides(tmp_path):
  """Two tensors sharing one storage: an offset view and a transposed one."""
  storage = np.arange(12, dtype=np.float32)
  state = torch_checkpoint.load_state_dict(_pth(
      tmp_path / 'views.pth', {'a': (2, (2, 3), (3, 1)),
                               'b': (0, (3, 2), (1, 3))}))
  np.testing.assert_array_equal(state['a'], storage[2:8].reshape(2, 3))
  np.testing.assert_array_equal(state['b'], storage[:6].reshape(2, 3).T)
  with pytest.raises(DataError, match='does not fit'):
    torch_checkpoint.load_state_dict(
        _pth(tmp_path / 'short.pth', {'a': (10, (2, 3), (3, 1))}))


def test_reader_caps_sizes_before_allocating(tmp_path):
  """A stride-0 view may repeat its storage (torch's `expand`), but a tiny
  file asking for 4 TiB that way, or for a negative size, is refused."""
  state = torch_checkpoint.load_state_dict(
      _pth(tmp_path / 'expand.pth', {'a': (0, (3, 4), (0, 1))}))
  np.testing.assert_array_equal(state['a'], np.tile(np.arange(4), (3, 1)))
  huge = _pth(tmp_path / 'huge.pth', {'a': (0, (2**20, 2**20), (0, 0))})
  assert huge.stat().st_size < 2000
  with pytest.raises(DataError, match='over the 2147483648 byte cap') as error:
    torch_checkpoint.load_state_dict(huge)
  assert error.value.path == str(huge)
  with pytest.raises(DataError, match='negative'):
    torch_checkpoint.load_state_dict(
        _pth(tmp_path / 'negative.pth', {'a': (0, (-2, -3), (3, 1))}))
  with pytest.raises(DataError, match='one rank'):
    torch_checkpoint.load_state_dict(
        _pth(tmp_path / 'rank.pth', {'a': (0, (2, 3), (3,))}))


def test_reader_refuses_records_over_the_cap_before_reading(tmp_path,
                                                            monkeypatch):
  monkeypatch.setattr(torch_checkpoint, 'MAX_TENSOR_BYTES', 300)
  with pytest.raises(DataError, match='archive/data/0 declares 400 bytes'):
    torch_checkpoint.load_state_dict(_pth(
        tmp_path / 'big.pth', {'a': (0, (2,), (1,))},
        storage=np.arange(100, dtype=np.float32)))


def test_reader_caps_the_total_a_file_declares_before_allocating(
    tmp_path, monkeypatch):
  """Two stride-0 views of 768 MiB each, every one under the per-tensor
  cap, declare 1.5 GiB together from a tiny file: refused before any tensor
  is built. So are records whose sizes add up over the cap."""
  side = 2**14 - 2**12  # (12288, 16384) float32: 768 MiB
  huge = _pth(tmp_path / 'many.pth', {'a': (0, (side, 2**14), (0, 0)),
                                      'b': (0, (side, 2**14), (0, 0))})
  assert huge.stat().st_size < 2000

  def built(*_):
    raise AssertionError('a tensor was allocated before the total was known')

  monkeypatch.setattr(torch_checkpoint._Tensor, 'array', built)  # pylint: disable=protected-access
  with pytest.raises(DataError, match='its tensors declare 1610612736 bytes '
                     'in all, over the 1073741824 byte cap') as error:
    torch_checkpoint.load_state_dict(huge)
  assert error.value.path == str(huge)
  monkeypatch.setattr(torch_checkpoint, 'MAX_FILE_BYTES', 500)
  with pytest.raises(DataError, match='its records declare .* bytes in all'):
    torch_checkpoint.load_state_dict(_pth(
        tmp_path / 'records.pth', {'a': (0, (2,), (1,))},
        storage=np.arange(100, dtype=np.float32)))

"""TensorBoard scalars without TensorFlow, plus progress logging.

Writes the TFRecord-framed `Event` protos TensorBoard reads (wall time,
step, one simple_value per tag), encoded by hand: a few dozen lines instead
of a TensorFlow dependency.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time


def _crc32c_table() -> list[int]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(step: int, wall_time: float,
                 scalars: dict[str, float] | None = None,
                 file_version: str | None = None) -> bytes:
  """An `tensorflow.Event` proto with scalar summary values."""
  event = b'\x09' + struct.pack('<d', wall_time)
  event += b'\x10' + _varint(step & 0xFFFFFFFFFFFFFFFF)
  if file_version is not None:
    event += _field_bytes(3, file_version.encode())
  if scalars:
    summary = b''
    for tag, value in scalars.items():
      item = _field_bytes(1, tag.encode()) + b'\x15' + struct.pack(
          '<f', float(value))
      summary += _field_bytes(1, item)
    event += _field_bytes(5, summary)
  return event


def frame(record: bytes) -> bytes:
  """TFRecord framing: length, its CRC, the record, its CRC."""
  length = struct.pack('<Q', len(record))
  return (length + struct.pack('<I', _masked_crc(length)) + record +
          struct.pack('<I', _masked_crc(record)))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
  value = shift = 0
  while True:
    byte = data[pos]
    pos += 1
    value |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return value, pos


def _fields(data: bytes):
  """(field number, wire type, value) of a protobuf message."""
  pos = 0
  while pos < len(data):
    key, pos = _read_varint(data, pos)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _read_varint(data, pos)
    elif wire == 1:
      value, pos = data[pos:pos + 8], pos + 8
    elif wire == 5:
      value, pos = data[pos:pos + 4], pos + 4
    elif wire == 2:
      size, pos = _read_varint(data, pos)
      value, pos = data[pos:pos + size], pos + size
    else:
      raise ValueError(f'unsupported wire type {wire}')
    yield number, wire, value


def read_scalars(path: str) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value), ...]} from an event file this module wrote."""
  with open(path, 'rb') as f:
    data = f.read()
  out: dict[str, list[tuple[int, float]]] = {}
  pos = 0
  while pos + 12 <= len(data):
    (length,) = struct.unpack('<Q', data[pos:pos + 8])
    record = data[pos + 12:pos + 12 + length]
    pos += 16 + length
    step = 0
    for number, _, value in _fields(record):
      if number == 2:
        step = value
      elif number == 5:
        for _, _, item in _fields(value):
          fields = {n: v for n, _, v in _fields(item)}
          out.setdefault(fields[1].decode(), []).append(
              (step, struct.unpack('<f', fields[2])[0]))
  return out


class ScalarWriter:
  """Appends scalar events to `<logdir>/events.out.tfevents.*`."""

  def __init__(self, logdir: str, enabled: bool = True):
    self.enabled = enabled
    self._file = None
    if not enabled:
      return
    os.makedirs(logdir, exist_ok=True)
    name = (f'events.out.tfevents.{int(time.time())}.{socket.gethostname()}'
            f'.{os.getpid()}')
    self._file = open(os.path.join(logdir, name), 'ab')
    self._file.write(frame(encode_event(0, time.time(),
                                        file_version='brain.Event:2')))

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if self._file is None:
      return
    self._file.write(frame(encode_event(step, time.time(), scalars)))
    self._file.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None


class Progress:
  """Logs steps/s and the ETA of a run of `total` steps."""

  def __init__(self, first_step: int, total: int):
    self.first_step = first_step
    self.total = total
    self.started = time.time()

  def message(self, step: int) -> str:
    done = step - self.first_step
    elapsed = max(time.time() - self.started, 1e-9)
    rate = done / elapsed
    eta = (self.total - step) / rate if rate > 0 else float('inf')
    return f'{rate:.2f} steps/s, ETA {eta / 60:.1f} min'

  def log(self, step: int, scalars: dict[str, float]) -> None:
    logging.info('step %d/%d: %s (%s)', step, self.total,
                 ', '.join(f'{k}={v:.4f}' for k, v in sorted(scalars.items())),
                 self.message(step))

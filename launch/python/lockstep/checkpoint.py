"""Reads a lockstep checkpoint and checks it as the C++ reader does
(core/checkpoint.cpp, layout in proto/checkpoint.proto):

    8 bytes "LKSTCKPT"
    varint length + CheckpointHeader
    varint length + TensorRecord, record_count times (a large tensor is
        split over several records, each holding elements [offset, ...))
    varint length + CheckpointFooter (exactly its two fields, nothing after)

The footer must be byte for byte the one lockstep writes, the file's
CRC-32 (every byte before the footer) the footer's, checked before anything
is parsed, each record's data its own CRC-32; every tensor must be
assembled whole, from records in order, once. Tensor data is decoded with numpy.frombuffer straight from the
record (float32, little-endian) into the tensor's array.
"""
import math
import os
import stat
import zlib

import numpy as np
from google.protobuf.message import DecodeError

from . import proto
from .errors import EXIT_RUNTIME, CheckpointError, Error

MAGIC = b"LKSTCKPT"
FORMAT_VERSION = 1
# The C++ reader's bound on one message: no header or record is larger.
MAX_MESSAGE_BYTES = 64 << 20
FLOAT32_LE = np.dtype("<f4")


def _read_file(path):
    """The file's bytes; what is not a regular file is refused before
    reading (a FIFO would block), as the C++ reader does."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise CheckpointError(path, f"cannot open checkpoint: {e.strerror}")
    if stat.S_ISDIR(mode):
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    if not stat.S_ISREG(mode):
        raise CheckpointError(path, "not a regular file (a checkpoint is a file)")
    try:
        with open(path, "rb") as f:
            # A bytearray: tensors of one record are writable numpy views of it.
            data = bytearray(os.fstat(f.fileno()).st_size)
            view, done = memoryview(data), 0
            while done < len(data):
                n = f.readinto(view[done:])
                if not n:
                    break
                done += n
            del view
            del data[done:]  # a file that shrank while being read reads as truncated
            return data
    except OSError as e:
        raise Error(path, f"cannot read checkpoint: {e.strerror}", EXIT_RUNTIME)


# Hand-written because python-protobuf has no public reader or writer of
# length-delimited messages (only its internal encoder/decoder modules).
def _varint(data, pos):
    value = shift = 0
    while shift <= 63 and pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


# Hand-written like _varint (python-protobuf has no public wire-format
# reader); the fields around the data are still parsed by protobuf.
def _bytes_field(serialized, number):
    """(tag start, data start, data end) of the first length-delimited
    field `number` in a serialised message, or None if it has none or its
    fields do not walk cleanly."""
    pos = 0
    while pos < len(serialized):
        tag_start = pos
        key, pos = _varint(serialized, pos)
        if key is None:
            return None
        wire_type = key & 7
        if wire_type == 0:
            value, pos = _varint(serialized, pos)
            if value is None:
                return None
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, pos = _varint(serialized, pos)
            if length is None or pos + length > len(serialized):
                return None
            if key >> 3 == number:
                return tag_start, pos, pos + length
            pos += length
        else:
            return None
    return None


def _encode_varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Reader:
    def __init__(self, path, data):
        self.path, self.data, self.view, self.pos = path, data, memoryview(data), 0
        self.end = len(data)  # where the messages read by message() must end: the footer, once found

    def damaged(self, what):
        return CheckpointError(self.path, f"{what}: damaged")

    def next_message(self, name):
        """The next length-delimited message's bytes (a view), checked against the file."""
        length, pos = _varint(self.data, self.pos)
        if length is None or pos > self.end:
            raise CheckpointError(self.path, f"truncated before the {name}")
        if length > self.end - pos:
            raise CheckpointError(self.path, f"truncated {name} (file ends early)")
        if length > MAX_MESSAGE_BYTES:
            raise self.damaged(f"{name} declares {length} bytes")
        self.pos = pos + length
        return self.view[pos:pos + length]

    def parse(self, message, serialized, name):
        try:
            message.ParseFromString(serialized)
        except DecodeError:
            raise CheckpointError(self.path, f"damaged {name} (does not parse)")
        return message

    def message(self, message, name):
        return self.parse(message, self.next_message(name), name)

    def tensor_record(self, pb2, name):
        """(TensorRecord without its data, the data as a view of the file).
        python-protobuf hands out `data` only as a copy of its own copy, two
        passes over every tensor; so the record is parsed without the data
        field, which is located by walking the record's fields."""
        serialized = self.next_message(name)
        span = _bytes_field(serialized, pb2.TensorRecord.DATA_FIELD_NUMBER)
        if span is None:  # not as lockstep writes it: protobuf parses it all
            record = self.parse(pb2.TensorRecord(), serialized, name)
            return record, record.data
        tag_start, data_start, data_end = span
        record = self.parse(pb2.TensorRecord(), bytes(serialized[:tag_start]) + bytes(serialized[data_end:]), name)
        if record.HasField("data"):  # a second data field: protobuf's rule (the last one) decides
            record = self.parse(pb2.TensorRecord(), serialized, name)
            return record, record.data
        return record, serialized[data_start:data_end]


class _Assembly:
    """Tensors as their records arrive: a new tensor starts at offset 0 with
    a name not seen before; any other record continues the tensor before it."""

    def __init__(self, reader):
        self.reader, self.tensors, self.filled, self.first_record = reader, {}, {}, {}
        self.last = None

    def add(self, record, data, index):
        what = f"tensor record {index} ('{record.name}')"
        damaged = self.reader.damaged
        if not record.name:
            raise damaged(f"{what} has no name")
        shape = tuple(record.shape)
        if any(d < 0 for d in shape) or math.prod(shape) > len(self.reader.data):
            raise damaged(f"{what} declares shape {list(shape)}, larger than the file")
        if record.offset == 0:
            if record.name in self.tensors:
                raise damaged(f"{what} is a duplicate: tensor '{record.name}' starts in record "
                              f"{self.first_record[record.name]} already")
            self.tensors[record.name] = (record.kind, shape, np.empty(math.prod(shape), dtype=np.float32))
            self.filled[record.name], self.first_record[record.name] = 0, index
            self.last = record.name
        elif record.name != self.last:
            raise damaged(f"{what} continues a tensor that is not the one before it")
        kind, want_shape, values = self.tensors[record.name]
        if kind != record.kind or want_shape != shape:
            raise damaged(f"{what} changes the tensor's kind or shape mid-way")
        count, filled = len(data) // 4, self.filled[record.name]
        if len(data) % 4 or record.offset != filled or filled + count > values.size:
            raise damaged(f"{what} holds elements [{record.offset}, {record.offset + count}) of a tensor of "
                          f"{values.size} with {filled} read")
        if count == values.size and not isinstance(data, bytes):
            values = np.frombuffer(data, dtype=FLOAT32_LE)  # the whole tensor: a view of the file, no copy
            self.tensors[record.name] = (kind, shape, values)
        else:
            values[filled:filled + count] = np.frombuffer(data, dtype=FLOAT32_LE)
        self.filled[record.name] = filled + count

    def finish(self):
        for name, (_, shape, values) in self.tensors.items():
            if self.filled[name] != values.size:
                raise self.reader.damaged(f"tensor '{name}' is incomplete ({self.filled[name]} of {values.size} "
                                          "elements): a record is missing")
        return {name: values.reshape(shape) for name, (_, shape, values) in self.tensors.items()}


def _footer(reader, pb2):
    """(start, footer): the footer, found from the end of the file, where
    lockstep writes it. It is the one part no checksum covers, so it must be
    byte for byte what lockstep writes for its two values: a length of one
    byte, crc32 as fixed32 (tag 0x0D), record_count as a varint (tag 0x10)."""
    data = reader.data
    for varint_bytes in range(1, 11):
        start = len(data) - 7 - varint_bytes
        if start < len(MAGIC) or data[start] != 6 + varint_bytes or data[start + 1] != 0x0D or data[start + 6] != 0x10:
            continue
        count, end = _varint(data, start + 7)
        if end != len(data) or count is None:
            continue
        footer = pb2.CheckpointFooter(file_crc32=int.from_bytes(data[start + 2:start + 6], "little"),
                                      record_count=count - (1 << 64) if count >= 1 << 63 else count)
        body = footer.SerializeToString()
        if reader.view[start:] == _encode_varint(len(body)) + body:
            return start, footer
    raise reader.damaged("no footer as lockstep writes it at the end of the file (truncated, or bytes after it)")


def load_checkpoint(path):
    """(header, tensors): the CheckpointHeader message and {name: numpy
    float32 array shaped like the tensor}, in the file's order. Raises
    CheckpointError (a damaged or foreign file) or Error (cannot read it,
    no protoc) naming the file and what is wrong."""
    pb2 = proto.checkpoint_pb2()
    reader = _Reader(path, _read_file(path))
    if reader.data[:len(MAGIC)] != MAGIC:
        raise CheckpointError(path, "not a lockstep checkpoint (bad magic)")
    reader.pos = len(MAGIC)
    # The whole file's checksum first: damage anywhere is found before any of
    # it is parsed (python-protobuf would log damaged strings to stderr).
    footer_start, footer = _footer(reader, pb2)
    if zlib.crc32(reader.view[:footer_start]) != footer.file_crc32:
        raise reader.damaged("file checksum mismatch")
    reader.end = footer_start
    header = reader.message(pb2.CheckpointHeader(), "header")
    if header.format_version != FORMAT_VERSION:
        raise CheckpointError(path, f"format version {header.format_version} is not supported "
                                    f"(this reader reads version {FORMAT_VERSION})")
    if not 0 <= header.record_count <= len(reader.data):
        raise reader.damaged(f"header declares {header.record_count} records")
    assembly = _Assembly(reader)
    for index in range(header.record_count):
        record, data = reader.tensor_record(pb2, f"tensor record {index}")
        if zlib.crc32(data) != record.crc32:
            raise reader.damaged(f"tensor record {index} ('{record.name}') fails its checksum")
        assembly.add(record, data, index)
    tensors = assembly.finish()
    if reader.pos != footer_start:
        raise reader.damaged(f"the {header.record_count} tensor records end at byte {reader.pos}, "
                             f"the footer starts at byte {footer_start}")
    if footer.record_count != header.record_count:
        raise reader.damaged(f"the footer counts {footer.record_count} tensor records, "
                             f"the header {header.record_count}")
    return header, tensors

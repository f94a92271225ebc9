"""Size and shape caps on a skops archive, checked before skops reads any of it.

A skops file is a zip: ``schema.json`` (the object tree) plus one ``.npy`` member per
numeric array (``numpy.save`` output; object arrays live in the schema as lists) and
``.npz`` members for scipy sparse matrices. skops reads each member whole while it
builds the tree (``get_untrusted_types`` too), and ``numpy.load`` allocates the array the
header declares before it reads the data. So a 1.4 MB file whose deflated zeros unpack to
gigabytes, or whose ``.npy`` header claims a shape of 300 million rows, would allocate
gigabytes before any check could refuse it. Here only the zip directory and each
array's header (a few hundred bytes) are read: the declared sizes, the compression
ratio, every header's shape and dtype against its member's real size. The zip module
stops decompressing a member at its declared size, so the declared sizes bound memory.
"""

from __future__ import annotations

import io
import math
import zipfile
from typing import IO

from release.errors import ModelError

MIB = 1024 * 1024
MAX_FILE_BYTES = 512 * MIB  # the skops file itself
MAX_UNPACKED_BYTES = 1024 * MIB  # all members, decompressed
MAX_RATIO = 100  # unpacked / packed; real model arrays compress 2-10x, zeros 1000x
RATIO_FLOOR_BYTES = 64 * MIB  # small models may unpack to this much whatever the ratio
MAX_ARRAY_BYTES = 512 * MIB
MAX_SCHEMA_BYTES = 32 * MIB
MAX_MEMBERS = 200_000
MAX_DIMENSIONS = 32


def check_file_size(size: int, label: str) -> None:
    """Refuse a model file larger than :data:`MAX_FILE_BYTES`."""
    if size > MAX_FILE_BYTES:
        raise ModelError(
            f"{label} is {size} bytes; model files may be at most {MAX_FILE_BYTES}",
            "this is not a model `release train` wrote; re-train it",
        )


def inspect_archive(data: bytes, label: str) -> None:
    """Refuse an archive whose members or arrays would unpack past the caps."""
    check_file_size(len(data), label)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _inspect(archive, len(data), label, nested=False)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{label} is not a valid skops file: {exc}", "re-save it") from None


def _inspect(archive: zipfile.ZipFile, packed: int, label: str, *, nested: bool) -> None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise _refuse(label, f"has {len(members)} members (at most {MAX_MEMBERS})")
    unpacked = sum(m.file_size for m in members)
    limit = min(MAX_UNPACKED_BYTES, max(RATIO_FLOOR_BYTES, MAX_RATIO * packed))
    if unpacked > limit:
        raise _refuse(label, f"unpacks to {unpacked} bytes from {packed} (at most {limit})")
    for member in members:
        name = member.filename
        if name == "schema.json" and member.file_size > MAX_SCHEMA_BYTES:
            raise _refuse(label, f"has a {member.file_size}-byte schema.json")
        if name.endswith(".npy"):
            with archive.open(member) as fh:
                _check_npy(fh, member.file_size, f"{label}: {name}")
        elif name.endswith(".npz") and not nested:  # a sparse matrix: arrays in a zip
            inner = archive.read(member)
            try:
                with zipfile.ZipFile(io.BytesIO(inner)) as sparse:
                    _inspect(sparse, len(inner), f"{label}: {name}", nested=True)
            except zipfile.BadZipFile:
                raise _refuse(label, f"member {name} is not an .npz archive") from None


def _check_npy(fh: IO[bytes], size: int, where: str) -> None:
    """The header's shape and dtype must describe exactly the bytes that follow it."""
    import numpy as np
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(fh, max_header_size=10_000)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = npy.read_array_header_2_0(fh, max_header_size=10_000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, OSError, EOFError) as exc:
        raise ModelError(f"{where} has no valid array header: {exc}", "re-save the model") from None
    header_bytes = fh.tell()
    if dtype.hasobject:
        raise ModelError(f"{where} holds Python objects", "re-save the model with skops")
    if len(shape) > MAX_DIMENSIONS or any(not isinstance(d, int) or d < 0 for d in shape):
        raise ModelError(f"{where} declares the shape {shape}", "re-save the model")
    declared = math.prod(shape) * np.dtype(dtype).itemsize
    if declared > MAX_ARRAY_BYTES:
        raise ModelError(
            f"{where} declares a {declared}-byte array of shape {shape} "
            f"(at most {MAX_ARRAY_BYTES})",
            "this is not a model `release train` wrote; re-train it",
        )
    if declared != size - header_bytes:
        raise ModelError(
            f"{where} declares shape {shape} ({declared} bytes) but holds "
            f"{size - header_bytes} bytes of data",
            "the file is corrupt or crafted; re-train it",
        )


def _refuse(label: str, problem: str) -> ModelError:
    return ModelError(
        f"{label} {problem}", "this is not a model `release train` wrote; re-train it"
    )

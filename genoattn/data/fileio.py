"""Small file helpers shared by the genome and annotation readers: compression sniffing and text reading.

Compression is recognised from the first bytes of a file, never from its name, so a gzip file called
``x.fa`` or a plain file called ``x.fa.gz`` still reads correctly.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path

from genoattn.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def sniff_compression(path: Path) -> str | None:
    """Return ``"bgzf"`` (block gzip, seekable), ``"gzip"`` (plain gzip) or ``None`` (uncompressed)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if not head.startswith(GZIP_MAGIC):
        return None
    # BGZF = gzip member with the FEXTRA flag and a 'BC' extra subfield (SAM/BAM spec, section 4.1).
    if len(head) >= 14 and head[3] & 0x04 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def check_readable_file(path: str | Path, what: str) -> Path:
    """Return ``path`` as a Path if it is an existing, non-empty regular file; else raise InputError."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{p}: {what} not found")
    if not p.is_file():
        raise InputError(f"{p}: expected a {what}, found a directory or special file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (expected a {what})")
    return p


def iter_binary_lines(path: Path, compression: str | None) -> Generator[bytes, None, None]:
    """Yield the raw lines (with their line endings) of a possibly gzip/bgzf-compressed file.

    A truncated or corrupt compressed stream ends in an InputError naming the file.
    """
    opener = gzip.open if compression else open
    try:
        with opener(path, "rb") as fh:
            yield from fh
    except EOFError as exc:
        raise InputError(f"{path}: compressed data ends early (truncated gzip file?): {exc}") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path}: corrupt gzip data: {exc}") from None


def iter_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` (1-based, line ending stripped) of a text file, gzip/bgzf or plain.

    Undecodable bytes (binary content) raise an InputError naming the file and line.
    """
    for number, raw in enumerate(iter_binary_lines(path, sniff_compression(path)), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}:{number}: not UTF-8 text (binary or corrupt file?)") from None
        if "\x00" in text:
            raise InputError(f"{path}:{number}: contains NUL bytes (binary or corrupt file?)")
        yield number, text.rstrip("\r\n")

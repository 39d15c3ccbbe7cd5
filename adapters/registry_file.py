"""A do-not-call registry file read as a stream of E.164 numbers (``outbound-calls dnc
import``): plain text, or the same gzipped or in a one-file zip (the registry's downloads
come zipped). Nothing is held but the current line, so a file of tens of millions of lines
costs what one line does; the stores take the numbers in batches.
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple, cast

from calls.registry_numbers import BadRegistryLine, registry_number

# No number is written in more: a longer line is reported bad, not read whole.
MAX_LINE_BYTES = 256
# How many bad lines a report lists (the count covers them all).
SHOWN_BAD_LINES = 20
# A progress report every so many lines: the whole registry takes minutes.
PROGRESS_LINES = 1_000_000


class BadLine(NamedTuple):
    line: int
    reason: str
    text: str


class RegistryFileError(ValueError):
    """The file cannot be read as a registry file at all (not a bad line: the whole file)."""


def file_sha256(path: Path) -> str:
    with path.open("rb") as raw:
        return hashlib.file_digest(raw, "sha256").hexdigest()


@contextmanager
def open_registry_file(path: Path) -> Iterator[IO[bytes]]:
    """The file's text as bytes: gunzipped (``.gz``) or the one member of a zip."""
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "rb") as unzipped:
            yield cast(IO[bytes], unzipped)
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise RegistryFileError(
                    f"{path.name}: a zip of {len(members)} files; give one file at a time"
                )
            with archive.open(members[0]) as member:
                yield member
        return
    with path.open("rb") as plain:
        yield plain


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line's bytes; None for a line over MAX_LINE_BYTES (skipped to its end)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = stream.readline(64 * 1024)
        yield None


@dataclass
class RegistryReader:
    """Iterate for the numbers; afterwards ``lines``, ``bad`` and ``first_bad`` say what
    was read. ``region``: the country of numbers written without a country code;
    ``progress``: called with the lines read every ``progress_every``."""

    stream: IO[bytes]
    region: str = "US"
    shown_bad: int = SHOWN_BAD_LINES
    progress: Callable[[int], None] | None = None
    progress_every: int = PROGRESS_LINES
    lines: int = 0
    numbers: int = 0
    bad: int = 0
    first_bad: list[BadLine] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for raw in _lines(self.stream):
            self.lines += 1
            if self.progress is not None and self.lines % self.progress_every == 0:
                self.progress(self.lines)
            if raw is None:
                self._bad(f"longer than {MAX_LINE_BYTES} bytes", "")
                continue
            try:
                text = raw.decode("utf-8")
                number = registry_number(text, self.region)
            except UnicodeDecodeError:
                self._bad("not UTF-8 text", "")
                continue
            except BadRegistryLine as exc:
                self._bad(str(exc), text.strip()[:40])
                continue
            if number is not None:
                self.numbers += 1
                yield number

    def _bad(self, reason: str, text: str) -> None:
        self.bad += 1
        if len(self.first_bad) < self.shown_bad:
            self.first_bad.append(BadLine(self.lines, reason, text))

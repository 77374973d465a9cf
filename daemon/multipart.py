"""Bottle's multipart parser, made to take any bytes a client puts in a part's headers.

A photo's file name arrives in its part's Content-Disposition header, in
whatever bytes the phone or script sends. Bottle refuses a header holding a
NUL or a bare CR or LF with a ValueError, which would turn a name into a
refused upload. This parser drops those three bytes from the lines of a
part's headers (never from its body) before Bottle reads them; the name is
then decoded leniently by ``jobgallery.filenames``.

The header/body state is followed exactly as Bottle's ``parse`` follows it:
a boundary line (one that is not the tail of a longer line) starts a part's
headers, and the first line that is blank once decoded ends them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import bottle

HEADER_CONTROLS = re.compile(rb"[\0\r\n]")


class MultipartParser(bottle._MultipartParser):
    """``bottle._MultipartParser`` whose header lines carry no NUL, CR or LF."""

    def _lineiter(self) -> Iterator[tuple[bytes, bytes]]:
        separator = b"--" + bottle.tob(self.boundary)
        terminator = separator + b"--"
        in_headers, whole = False, True
        for line, end in super()._lineiter():
            if whole and line in (separator, terminator):
                in_headers = line == separator
            elif in_headers:
                line = HEADER_CONTROLS.sub(b"", line)
                in_headers = bool(line.decode(self.charset).strip())  # as Bottle decides it
            whole = bool(end)
            yield line, end

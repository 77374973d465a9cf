"""One-line notes shown once after a form's redirect: "3 photos moved to the trash. [Undo]".

POST-redirect-GET loses what the POST did, so the handler leaves a note here
and redirects to ``...?note=<key>``; the page pops it. A key is random and
a note is shown only to the user who caused it, so a shared or guessed
address shows nothing. Notes live in memory, at most ``MAX_NOTES`` (the
oldest go first) for ``TTL_SECONDS``: a note lost to a restart costs only
the line. A generated password travels this way: it is shown once, to the
admin who made it, and never stored.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_NOTES = 500
TTL_SECONDS = 600


@dataclass(frozen=True)
class Note:
    text: str
    lines: tuple[str, ...] = ()
    undo: tuple[int, ...] = field(default=())  # photos a "Bring back" button would restore
    secret: str = ""  # a generated password or a one-time sign-in link, shown once
    qr: str = ""  # the link's QR code (an inline SVG made by segno), for the crew member's phone camera


class Notes:
    def __init__(self) -> None:
        self.items: OrderedDict[str, tuple[str, float, Note]] = OrderedDict()
        self.lock = threading.Lock()

    def leave(self, user: str, note: Note) -> str:
        key = secrets.token_urlsafe(12)
        with self.lock:
            self.items[key] = (user, time.monotonic() + TTL_SECONDS, note)
            while len(self.items) > MAX_NOTES:
                self.items.popitem(last=False)
        return key

    def take(self, user: str, key: str) -> Note | None:
        """The note under ``key`` when ``user`` left it and it is fresh; it is gone afterwards."""
        with self.lock:
            found = self.items.get(key)
            if found is None or found[0] != user:
                return None
            del self.items[key]
        return found[2] if found[1] > time.monotonic() else None

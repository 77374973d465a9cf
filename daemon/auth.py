"""Passwords checked for HTTP Basic and the sign-in page: fast for many uploads, slow for guessers.

Three parts:

* ``parse_basic`` reads the Authorization header;
* ``CredentialCache`` remembers credentials that were right a moment ago
  (scrypt costs ~50 ms on purpose; twenty photos in a row should not pay it
  twenty times). It is keyed by a keyed hash of name and password, so no
  password is kept in memory, and failures are never cached. A hit is
  checked against the user's row as stored now (one indexed read): when
  the password hash or the role changed, or the user is gone, the entry is
  dropped, so a reset, a demotion or a removal takes effect at once;
* ``FailureThrottle`` counts failed sign-ins per client address and per the
  wider networks around it: after a few, that address (or network) must
  wait a growing delay before its next password check. A refused attempt
  costs the server nothing (no scrypt, no sleeping thread).

The throttle comes first: while an address must wait, every request from it
gets 429, even one whose credentials are in the cache. Otherwise a guesser
could keep trying passwords against the cache at full speed and learn from
429 (wrong) against 200 (right) which one is the password.

Crews behind one carrier NAT share an address, so the thresholds are
generous to people who mistype: the first ``FREE_FAILURES`` wrong passwords
cost nothing, and one failure is forgiven every ``FORGIVE_SECONDS``, so an
address whose people mistype less than once a minute is never slowed down.
Past that, the address waits one second, then twice as long after each
further failure, up to ``MAX_DELAY``: a guesser gets about one password a
minute. A right password does not wipe the count (else a crew member could
sign in between guesses at the admin's password). The upload form's script
retries a 429 after ``Retry-After``, so a crew that shares its address with
a guesser waits instead of losing photos.

One IPv6 customer holds at least a /64 and often a /56 or /48, and may
send from any address in it; one IPv4 customer may hold a few addresses of
a /24. So each failure counts for the address (an IPv6 /64) and for each
wider network in ``WIDER``, whose buckets are a few times larger and
forgive as many times faster: a /56 holder gets about 20 free guesses and
then two a minute in all, not 256 times ten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from jobgallery import db, users
from jobgallery.errors import JobGalleryError

REALM = "jobgallery"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 256
FREE_FAILURES = 10
FORGIVE_SECONDS = 60.0
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
TRACKED_ADDRESSES = 4096
CONCURRENT_CHECKS = 2


class AuthError(JobGalleryError):
    """A request refused before any of its work is done; ``headers`` go on the answer."""

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})


class NotSignedIn(AuthError):
    """401; ``challenge`` adds ``WWW-Authenticate: Basic``, which makes a browser show its password prompt."""

    status = 401

    def __init__(self, message: str, challenge: bool = True) -> None:
        super().__init__(message, {"WWW-Authenticate": CHALLENGE} if challenge else None)


class Forbidden(AuthError):
    status = 403


class TooManyAttempts(AuthError):
    status = 429

    def __init__(self, seconds: int) -> None:
        unit = "second" if seconds == 1 else "seconds"
        message = f"too many failed sign-ins from your address; try again in {seconds} {unit}"
        super().__init__(message, {"Retry-After": str(seconds)})


@dataclass(frozen=True)
class Credentials:
    name: str
    password: str


def parse_basic(header: str | None) -> Credentials | None:
    """``Basic base64(name:password)`` -> Credentials; None for anything else or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, colon, password = decoded.partition(":")
    if not colon or not name:
        return None
    return Credentials(name, password)


class CredentialCache:
    """Recently verified credentials, each for ``ttl`` seconds; bounded, oldest dropped first."""

    def __init__(self, ttl: float = CACHE_SECONDS, size: int = CACHE_ENTRIES, clock: Callable[[], float] | None = None):
        self.ttl = ttl
        self.size = size
        self.clock = clock or time.monotonic
        self.secret = secrets.token_bytes(32)
        self.entries: OrderedDict[bytes, tuple[db.User, float]] = OrderedDict()
        self.lock = threading.Lock()

    def key(self, credentials: Credentials) -> bytes:
        text = f"{credentials.name}\0{credentials.password}".encode()
        return hmac.new(self.secret, text, hashlib.sha256).digest()

    def get(self, credentials: Credentials) -> db.User | None:
        key = self.key(credentials)
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self.clock():
                del self.entries[key]
                return None
            return entry[0]

    def drop(self, credentials: Credentials) -> None:
        with self.lock:
            self.entries.pop(self.key(credentials), None)

    def put(self, credentials: Credentials, user: db.User) -> None:
        key = self.key(credentials)
        with self.lock:
            self.entries[key] = (user, self.clock() + self.ttl)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


@dataclass
class Failures:
    count: float
    last: float
    blocked_until: float
    scale: int


# (prefix length, scale): the bucket of a network allows ``scale`` times the failures and forgives as much faster.
WIDER = {4: ((32, 1), (24, 3)), 6: ((64, 1), (56, 2), (48, 4))}


class FailureThrottle:
    """Failed sign-ins per address and per wider network, forgiven over time; an exponential wait past ``free``.

    A leaky bucket rather than a counter that a success resets: with a reset,
    anyone holding one account could sign in between guesses at another
    account's password and never be slowed down.
    """

    def __init__(
        self,
        free: int = FREE_FAILURES,
        forgive_seconds: float = FORGIVE_SECONDS,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        size: int = TRACKED_ADDRESSES,
        clock: Callable[[], float] | None = None,
    ):
        self.free = free
        self.forgive_seconds = forgive_seconds
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.size = size
        self.clock = clock or time.monotonic
        self.entries: OrderedDict[str, Failures] = OrderedDict()
        self.lock = threading.Lock()

    def wait_seconds(self, address: str) -> int:
        """Whole seconds this address must still wait before its password is checked; 0 when free."""
        now = self.clock()
        with self.lock:
            return max(self.key_wait(key, now) for key, _ in client_keys(address))

    def key_wait(self, key: str, now: float) -> int:
        entry = self.entries.get(key)
        if entry is None:
            return 0
        if now >= entry.blocked_until and self.remaining(entry, now) <= 0:
            del self.entries[key]
            return 0
        return max(0, math.ceil(entry.blocked_until - now))

    def remaining(self, entry: Failures, now: float) -> float:
        """Failures not yet forgiven."""
        return entry.count - (now - entry.last) * entry.scale / self.forgive_seconds

    def failed(self, address: str) -> None:
        now = self.clock()
        with self.lock:
            for key, scale in client_keys(address):
                self.count_failure(key, scale, now)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def count_failure(self, key: str, scale: int, now: float) -> None:
        entry = self.entries.pop(key, None) or Failures(0, now, now, scale)
        entry.count = max(0.0, self.remaining(entry, now)) + 1
        entry.last = now
        over = math.ceil(entry.count - self.free * scale)
        if over > 0:
            entry.blocked_until = now + min(self.max_delay, self.first_delay * 2 ** min(over - 1, 32))
        self.entries[key] = entry


def client_keys(address: str) -> list[tuple[str, int]]:
    """What the throttle counts a failure from ``address`` against: its own key, then wider networks.

    An IPv4 address and its /24; an IPv6 address's /64, /56 and /48 (an
    IPv4-mapped IPv6 address counts as IPv4). Anything else is its own key.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return [(address, 1)]
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    keys = []
    for prefix, scale in WIDER[parsed.version]:
        network = ipaddress.ip_network((parsed, prefix), strict=False)
        keys.append((str(parsed) if prefix == parsed.max_prefixlen else str(network), scale))
    return keys


class Authenticator:
    """Decides who a request is: the throttle first, then the cache, then the (slow) password check.

    Each scrypt check holds 16 MiB for ~50 ms, so at most ``CONCURRENT_CHECKS``
    run at once; a request that waited looks at the throttle and the cache
    again, so sixteen phones sending their first photo with the same account
    cost one or two checks, not sixteen (and 32 MiB at most, not 256), and a
    guesser's requests queued behind each other stop as soon as the address
    is blocked. HTTP Basic and the sign-in page share one throttle and cache.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self.connect = connect
        self.cache = CredentialCache()
        self.throttle = FailureThrottle()
        self.checking = threading.BoundedSemaphore(CONCURRENT_CHECKS)

    def user(self, header: str | None, address: str) -> db.User:
        """The user of a Basic header, or raise TooManyAttempts / NotSignedIn."""
        self.refuse_if_throttled(address)
        credentials = parse_basic(header)
        if credentials is None:
            raise NotSignedIn("sign in with your jobgallery user name and password")
        return self.verify(credentials, address)

    def verify(self, credentials: Credentials, address: str) -> db.User:
        """The user when name and password are right now; a failure counts against ``address``."""
        self.refuse_if_throttled(address)
        user = self.cached(credentials)
        if user is not None:
            return user
        with self.checking:
            self.refuse_if_throttled(address)
            user = self.cached(credentials) or self.check(credentials)
        if user is None:
            self.throttle.failed(address)
            raise NotSignedIn("wrong user name or password")
        self.cache.put(credentials, user)
        return user

    def cached(self, credentials: Credentials) -> db.User | None:
        """A cache hit whose user row still has the same password hash and role and is not disabled; else dropped."""
        remembered = self.cache.get(credentials)
        if remembered is None:
            return None
        current = db.get_user(self.connect(), credentials.name)
        if current is None or (current.password_hash, current.is_admin, current.disabled) != (
            remembered.password_hash,
            remembered.is_admin,
            False,
        ):
            self.cache.drop(credentials)
            return None
        return current

    def refuse_if_throttled(self, address: str) -> None:
        wait = self.throttle.wait_seconds(address)
        if wait:
            raise TooManyAttempts(wait)

    def check(self, credentials: Credentials) -> db.User | None:
        """The slow check; a name or password no user can have costs the same work and fails."""
        if not users.plausible(credentials.name, credentials.password):
            users.authenticate(self.connect(), "", credentials.password[: users.MAX_PASSWORD])
            return None
        return users.authenticate(self.connect(), credentials.name, credentials.password)


def require_admin(user: db.User) -> db.User:
    """``user`` when an admin; Forbidden for anyone else."""
    if not user.is_admin:
        raise Forbidden("only an admin may do this")
    return user

"""The sign-in throttle's arithmetic, on a clock the test moves: forgiveness over time and the growing wait.

The daemon's behaviour over HTTP (429 before the cache, per address, per
IPv6 /64) is in test_daemon.py and test_sessions.py; what needs minutes of
real time is here, and the credential cache against a real database.
"""

from __future__ import annotations

import pytest

from daemon.auth import (
    FREE_FAILURES,
    MAX_DELAY,
    Authenticator,
    Credentials,
    FailureThrottle,
    NotSignedIn,
    client_keys,
)
from jobgallery import users


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def fail(throttle: FailureThrottle, times: int, address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert throttle.wait_seconds(address) == 0
        throttle.failed(address)


def test_the_free_failures_cost_nothing_and_the_next_waits_a_second(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    fail(throttle, FREE_FAILURES)
    assert throttle.wait_seconds("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 1
    assert throttle.wait_seconds("10.0.0.2") == 0


def test_a_crew_that_mistypes_less_than_once_a_minute_is_never_slowed(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for _ in range(100):
        fail(throttle, 1)
        clock.now += 61
    assert throttle.wait_seconds("10.0.0.1") == 0


def test_a_guesser_is_held_to_about_one_password_a_minute(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    guesses, started = 0, clock.now
    while clock.now - started < 3600:
        wait = throttle.wait_seconds("10.0.0.1")
        if wait:
            clock.now += wait
            continue
        throttle.failed("10.0.0.1")
        guesses += 1
    assert FREE_FAILURES + 60 <= guesses <= FREE_FAILURES + 70
    assert throttle.wait_seconds("10.0.0.1") <= MAX_DELAY


def test_an_address_is_forgotten_once_all_is_forgiven(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    fail(throttle, 3)
    clock.now += 3 * 60 + 1
    assert throttle.wait_seconds("10.0.0.1") == 0
    assert throttle.entries == {}


@pytest.mark.parametrize(
    ("address", "keys"),
    [("10.1.2.3", ["10.1.2.3", "10.1.2.0/24"]),
     ("2001:db8:1:2:3:4:5:6", ["2001:db8:1:2::/64", "2001:db8:1::/56", "2001:db8:1::/48"]),
     ("::ffff:10.1.2.3", ["10.1.2.3", "10.1.2.0/24"]),
     ("-", ["-"])],
)  # fmt: skip
def test_failures_count_for_the_address_and_its_wider_networks(address: str, keys: list[str]) -> None:
    assert [key for key, _ in client_keys(address)] == keys


def test_a_56_gets_twice_the_free_failures_of_one_64_in_all_then_waits(clock: Clock) -> None:
    throttle = FailureThrottle(clock=clock)
    for block in range(2 * FREE_FAILURES):
        fail(throttle, 1, f"2001:db8:5:{block:x}::1")
    throttle.failed("2001:db8:5:ff::1")
    assert throttle.wait_seconds("2001:db8:5:fe::1") == 1
    assert throttle.wait_seconds("2001:db8:6::1") == 0  # another /56 of the same /48 is not blocked yet


def test_a_24_forgives_three_times_faster_than_one_address(clock: Clock) -> None:
    """A carrier's /24 shared by many crews: three mistypes a minute from it in all are never slowed down."""
    throttle = FailureThrottle(clock=clock)
    for minute in range(60):
        for host in range(3):
            fail(throttle, 1, f"10.7.7.{(minute * 3 + host) % 250 + 1}")
        clock.now += 61
    assert throttle.wait_seconds("10.7.7.1") == 0


def test_a_cached_sign_in_is_checked_against_the_stored_user(conn) -> None:
    """A reset or a demotion used to keep the old password and role working from the cache for about 60 s."""
    users.add_user(conn, "crew", "first-password-1", admin=True)
    auth = Authenticator(lambda: conn)
    old = Credentials("crew", "first-password-1")
    assert auth.verify(old, "10.0.0.1").is_admin
    users.add_user(conn, "crew", "first-password-1", admin=False)
    assert auth.verify(old, "10.0.0.1").is_admin is False
    users.add_user(conn, "crew", "second-password-2", admin=False)
    with pytest.raises(NotSignedIn):
        auth.verify(old, "10.0.0.1")
    assert auth.verify(Credentials("crew", "second-password-2"), "10.0.0.1").name == "crew"
    users.remove_user(conn, "crew")
    with pytest.raises(NotSignedIn):
        auth.verify(Credentials("crew", "second-password-2"), "10.0.0.1")

"""The sign-in throttle's arithmetic, on a clock the test moves: forgiveness over time and the growing wait.

The daemon's behaviour over HTTP (429 before the cache, per address, per
IPv6 /64) is in test_daemon.py; what needs minutes of real time is here.
"""

from __future__ import annotations

import pytest

from daemon.auth import FREE_FAILURES, MAX_DELAY, FailureThrottle, client_key


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
    ("address", "key"),
    [("10.1.2.3", "10.1.2.3"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("::ffff:10.1.2.3", "10.1.2.3"),
     ("-", "-")],
)  # fmt: skip
def test_clients_are_counted_by_ipv4_address_or_ipv6_64(address: str, key: str) -> None:
    assert client_key(address) == key

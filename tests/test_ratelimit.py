"""The Flickr rate limit: an hourly budget that every process using one key shares."""

import subprocess
import sys
import time
from collections import deque

from fdf.flickr.ratelimit import RateLimiter, default_state_path


class FakeTime:
    def __init__(self):
        self.now = 1_000_000.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def max_calls_in_any_hour(stamps):
    window, best = deque(), 0
    for t in stamps:
        window.append(t)
        while window[0] <= t - 3600:
            window.popleft()
        best = max(best, len(window))
    return best


def test_no_hour_holds_more_than_the_budget(tmp_path):
    fake = FakeTime()
    limiter = RateLimiter(calls_per_hour=120, burst=30, state_path=tmp_path / "b.json",
                          clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(600):
        limiter.acquire()
        stamps.append(fake.now)
    assert max_calls_in_any_hour(stamps) <= 120
    # and the budget is used: after the burst, calls refill at (120 - 30) per hour
    assert stamps[-1] - stamps[0] <= (600 - 30) / 90 * 3600 + 1


def test_burst_goes_at_once_then_waits():
    fake = FakeTime()
    limiter = RateLimiter(calls_per_hour=3600, burst=10, clock=fake.clock, sleep=fake.sleep)
    waits = [limiter.acquire() for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] > 0


_WORKER = """
import sys, time
from fdf.flickr.ratelimit import RateLimiter
lim = RateLimiter(calls_per_hour=float(sys.argv[2]), burst=4, state_path=sys.argv[1])
for _ in range(int(sys.argv[3])):
    lim.acquire()
    print(time.time(), flush=True)
"""


def _run_workers(state_paths, calls_per_hour, calls_each):
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(p), str(calls_per_hour), str(calls_each)],
                              stdout=subprocess.PIPE, text=True) for p in state_paths]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return sorted(float(x) for out in outs for x in out.split())


def test_processes_share_one_budget(tmp_path):
    # 36,000 calls/hour = 10/s after a burst of 4. Two processes x 12 calls on one key must
    # take at least (24 - 4) / 10 = 2 s together; separate buckets would take about half.
    shared = tmp_path / "key.json"
    start = time.time()
    stamps = _run_workers([shared, shared], 36000, 12)
    assert len(stamps) == 24
    assert stamps[-1] - start >= 1.9
    # in any 1 s window, no more than burst + rate calls
    for i, t in enumerate(stamps):
        in_window = sum(1 for u in stamps[i:] if u - t < 1.0)
        assert in_window <= 4 + 10 + 1


def test_state_file_is_per_key_and_hides_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FDF_CACHE_DIR", str(tmp_path))
    a, b = default_state_path("key-one"), default_state_path("key-two")
    assert a != b and "key-one" not in str(a)


def test_corrupt_state_file_is_replaced(tmp_path):
    state = tmp_path / "s.json"
    state.write_text("{not json")
    fake = FakeTime()
    limiter = RateLimiter(calls_per_hour=3600, burst=5, state_path=state, clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire() == 0.0

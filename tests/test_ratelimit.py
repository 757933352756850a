"""The Flickr rate limit: an hourly budget that every process using one key shares."""

import json
import os
import subprocess
import sys
import time
from collections import deque

import pytest

from fdf.flickr.ratelimit import STATE_KIND, RateLimiter, RateStateError, default_state_path


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
    limiter = RateLimiter(
        calls_per_hour=120, burst=30, state_path=tmp_path / "b.json", clock=fake.clock, sleep=fake.sleep
    )
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
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(p), str(calls_per_hour), str(calls_each)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in state_paths
    ]
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


def test_a_file_that_is_not_a_rate_state_is_refused_and_left_untouched(tmp_path):
    # Issue 17 item 1: --rate-state pointed at the wrong file used to overwrite it with JSON.
    fake = FakeTime()
    cases = {
        "notes.txt": b"my thesis, chapter 1\n",
        "broken.json": b"{not json",
        "other.json": b'{"tokens": 1, "updated": 2, "mine": true}',
        "list.json": b"[1, 2]",
        "big.json": b'{"tokens": 1, "updated": 2}' + b" " * 10000,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(RateStateError, match="not a rate-limit state file"):
            RateLimiter(calls_per_hour=3600, state_path=path, clock=fake.clock, sleep=fake.sleep)
        assert path.read_bytes() == data
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(RateStateError, match="not a regular file"):  # and never blocks opening it
        RateLimiter(calls_per_hour=3600, state_path=fifo)
    with pytest.raises(RateStateError, match="not a regular file"):
        RateLimiter(calls_per_hour=3600, state_path=tmp_path)


def test_own_state_files_old_and_new_are_read_and_empty_ones_started(tmp_path):
    fake = FakeTime()
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"tokens": 0.0, "updated": fake.now}))  # before the "kind" field
    limiter = RateLimiter(calls_per_hour=3600, burst=5, state_path=old, clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire() > 0  # the stored empty bucket is honoured
    assert json.loads(old.read_text())["kind"] == STATE_KIND
    empty = tmp_path / "empty.json"
    empty.touch()
    limiter = RateLimiter(calls_per_hour=3600, burst=5, state_path=empty, clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire() == 0.0
    # a killed writer's temporary is cleaned by the next call
    stale = tmp_path / ".empty.json.abc123.tmp"
    stale.write_text("x")
    limiter.acquire()
    assert not stale.exists()


def test_cli_search_refuses_a_wrong_rate_state_file(tmp_path):
    # Refused before any call: the API URL is never reached (nothing listens on port 9).
    notes = tmp_path / "notes.txt"
    notes.write_text("do not overwrite me\n")
    env = dict(os.environ, FLICKR_API_KEY="k" * 32, FLICKR_API_SECRET="s" * 16)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "search",
            "--license",
            "4",
            "--api-url",
            "http://127.0.0.1:9/rest",
            "--rate-state",
            str(notes),
            "--out",
            str(tmp_path / "m.parquet"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert "not a rate-limit state file" in res.stderr and "Traceback" not in res.stderr
    assert notes.read_text() == "do not overwrite me\n"


def test_build_config_rate_state_pointing_at_another_file_is_refused(tmp_path):
    from pipelines.build import run_build
    from pipelines.config import build_config_from_dict

    notes = tmp_path / "notes.txt"
    notes.write_text("keep\n")
    config = build_config_from_dict(
        {
            "source": {
                "kind": "flickr",
                "query": {"license_ids": [4]},
                "flickr": {"api_key": "k" * 32, "api_url": "http://127.0.0.1:9/rest", "rate_state": str(notes)},
            }
        }
    )
    with pytest.raises(RateStateError):
        run_build(config, tmp_path / "out")
    assert notes.read_text() == "keep\n"

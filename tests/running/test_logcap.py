"""The head-and-tail arithmetic of a run's log cap (pure: no process, no store)."""

from __future__ import annotations

from scheduler.running.logcap import LogCap


def _feed(cap: LogCap[str], lines: list[str]) -> list[str]:
    passed = []
    for text in lines:
        if text.startswith("[clockd"):
            if cap.offer_uncounted(text):
                passed.append(text)
        elif cap.offer(text, len(text) + 1):
            passed.append(text)
    return passed


def test_under_the_cap_every_line_passes_and_no_marker_is_due() -> None:
    cap: LogCap[str] = LogCap(100)
    # 50 bytes of head; the rest waits in the tail and comes out whole at the end
    passed = _feed(cap, [f"{i:09d}" for i in range(9)])
    assert passed == [f"{i:09d}" for i in range(5)]
    assert cap.finish() == ([], [f"{i:09d}" for i in range(5, 9)])
    assert not cap.truncated


def test_a_clockd_line_from_the_dropped_middle_is_kept_before_the_marker() -> None:
    cap: LogCap[str] = LogCap(40)
    # 20 bytes of head (a, b); c starts the tail, where clockd's line waits in order
    lines = ["a" * 9, "b" * 9, "c" * 9, "[clockd: attempt 2 of 2]", *(c * 9 for c in "defg")]
    assert _feed(cap, lines) == ["a" * 9, "b" * 9]
    middle, tail = cap.finish()
    assert middle == ["[clockd: attempt 2 of 2]"]
    assert tail == ["f" * 9, "g" * 9]
    assert (cap.dropped_bytes, cap.dropped_lines) == (30, 3)


def test_a_line_longer_than_the_tail_is_dropped_whole() -> None:
    cap: LogCap[str] = LogCap(20)
    assert _feed(cap, ["x" * 5, "y" * 50]) == ["x" * 5]
    assert cap.finish() == ([], [])
    assert cap.dropped_bytes == 51

"""A target's result read with a cap, whatever interpreter wrote it."""

from __future__ import annotations

import json
from pathlib import Path

from scheduler.running.pyrunner import write_result
from scheduler.running.results import read_result


def test_a_result_file_over_the_cap_is_never_read_whole(tmp_path: Path) -> None:
    # as a job's own interpreter with an older clockd writes it: no cap applied there
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"rows": list(range(300))}))
    size = path.stat().st_size
    result, note = read_result(path, max_bytes=size - 1)
    assert result == {
        "clockd": f"result not stored: {size} bytes of JSON is over the cap of {size - 1} "
        "bytes; write large outputs to a file and return its path"
    }
    assert note is not None
    assert f"({size} bytes of JSON)" in note
    assert read_result(path, max_bytes=size) == ({"rows": list(range(300))}, None)
    assert read_result(tmp_path / "none.json") == (None, None)


def test_the_child_interpreter_writes_the_marker_instead_of_a_result_over_the_cap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "result.json"
    write_result(path, "é" * 100, max_bytes=100)  # 202 bytes of JSON
    assert read_result(path) == (
        {
            "clockd": "result not stored: 202 bytes of JSON is over the cap of 100 bytes; "
            "write large outputs to a file and return its path"
        },
        None,
    )

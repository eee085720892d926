"""Resolved secrets that a run prints are masked before anything is stored or shown (spec 2.1
point 5), and a run's environment leaves out what secret references name and PG* (spec 7).
Real processes, a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT
from tests.running.test_executor import Harness, scenario

SECRET = "s3cr3t-VALUE-4f9a1c"
SECRET_PARAMETER = {"api_key": {"type": "string", "secret": True}}


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("clockd.db"))


def test_a_secret_the_run_prints_is_masked_in_the_stored_log_and_the_echo(
    tmp_path: Path,
) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters=SECRET_PARAMETER,
            command=(
                "sh",
                "-c",
                'echo "key=$CLOCKD_PARAM_API_KEY"; echo "$CLOCKD_PARAM_API_KEY!" >&2; '
                'echo "$CLOCKD_PARAMETERS"',
            ),
        )
        run_id = h.submit(job, {"api_key": "env:API_KEY"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded"
        assert h.log(run_id, "stdout") == ["key=***", '{"api_key": "***"}']
        assert h.log(run_id, "stderr") == ["***!"]
        assert SECRET.encode() not in database_bytes(tmp_path)

    harness = scenario(tmp_path, body, environ={"API_KEY": SECRET})
    # stdout and stderr are two pipes: their lines interleave as the loop reads them
    assert sorted(line.text for line in harness.echoed) == sorted(
        ["key=***", "***!", '{"api_key": "***"}']
    )


def test_a_secret_in_the_error_is_masked_in_the_record_the_api_shows(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(parameters=SECRET_PARAMETER, command=(f"/nonexistent/{SECRET}",))
        run_id = h.submit(job, {"api_key": "env:API_KEY"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        shown = h.run(run_id).to_json()  # what GET /api/v1/runs/{id} answers
        assert shown["state"] == "failed"
        assert shown["error"] == "cannot start '/nonexistent/***': No such file or directory"
        assert SECRET not in json.dumps(shown)

    scenario(tmp_path, body, environ={"API_KEY": SECRET})


def test_each_line_of_a_multi_line_secret_from_a_file_is_masked(tmp_path: Path) -> None:
    secret_file = tmp_path / "cert.pem"
    secret_file.write_text("-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG\n-----END KEY-----\n")

    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"cert": {"type": "string", "secret": True}},
            command=(
                "sh",
                "-c",
                'printf "%s\\n" "$CLOCKD_PARAM_CERT"; echo "inline MIIBVwIBADANBgkqhkiG here"',
            ),
        )
        reference = f"file:{secret_file}"
        run_id = h.submit(job, {"cert": reference}, secrets=frozenset({"cert"}))
        await h.executor.wait_idle()
        assert h.state(run_id) == "succeeded"
        assert h.log(run_id, "stdout") == ["***", "***", "***", "inline *** here"]
        assert b"MIIBVwIBADANBgkqhkiG" not in database_bytes(tmp_path)

    scenario(tmp_path, body)


def test_a_secret_of_three_characters_is_not_masked(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters={"pin": {"type": "string", "secret": True}},
            command=("sh", "-c", 'echo "pin=$CLOCKD_PARAM_PIN"'),
        )
        run_id = h.submit(job, {"pin": "env:PIN"}, secrets=frozenset({"pin"}))
        await h.executor.wait_idle()
        assert h.log(run_id, "stdout") == ["pin=a1b"]

    scenario(tmp_path, body, environ={"PIN": "a1b"})


def test_a_python_target_that_returns_its_secret_has_its_result_masked(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters=SECRET_PARAMETER,
            target="tests.running.secret_target:echo_secret",
            workdir=ROOT,
        )
        run_id = h.submit(job, {"api_key": "env:API_KEY"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        record = h.run(run_id)
        assert record.state == "succeeded", h.log(run_id)
        assert record.result == {"key": "***", "nested": [{"again": "prefix-***"}, 3], "***": True}
        assert h.log(run_id, "stdout") == ["got ***"]
        assert SECRET.encode() not in database_bytes(tmp_path)

    scenario(tmp_path, body, environ={"API_KEY": SECRET})


def test_hook_output_is_masked_with_the_runs_secrets(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET + "\n")

    async def body(h: Harness) -> None:
        job = h.job(
            parameters=SECRET_PARAMETER,
            command=("true",),
            on_success=("sh", "-c", f'echo "hook read $(cat {secret_file})"'),
        )
        reference = f"file:{secret_file}"
        run_id = h.submit(job, {"api_key": reference}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        assert h.log(run_id, "clockd") == ["on_success: hook read ***"]

    scenario(tmp_path, body)


def test_a_run_inherits_neither_secret_named_variables_nor_pg_ones(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        job = h.job(
            parameters=SECRET_PARAMETER,
            command=(
                "sh",
                "-c",
                'echo "${API_KEY:-no API_KEY} ${PGPASSWORD:-no PGPASSWORD} $KEPT"; '
                'echo "param=$CLOCKD_PARAM_API_KEY"',
            ),
            on_success=("sh", "-c", 'echo "${API_KEY:-no API_KEY} ${PGUSER:-no PGUSER}"'),
        )
        run_id = h.submit(job, {"api_key": "env:API_KEY"}, secrets=frozenset({"api_key"}))
        await h.executor.wait_idle()
        # the secret still resolves from the daemon's whole environment (and is masked)
        assert h.log(run_id, "stdout") == ["no API_KEY no PGPASSWORD kept", "param=***"]
        assert h.log(run_id, "clockd") == ["on_success: no API_KEY no PGUSER"]

    scenario(
        tmp_path,
        body,
        environ={"API_KEY": SECRET, "PGPASSWORD": "db", "PGUSER": "clockd", "KEPT": "kept"},
        hidden_env=frozenset({"API_KEY"}),
    )

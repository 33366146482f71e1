"""The child processes the figures drive: one JSON object per line on stdin and stdout.

``emulator_server.py`` runs every emulator; ``watch_load.py`` (figure 1) and ``paths.py`` (figures 3
and 4) run a provider, in its own Python, pointed at one emulator by ``AIRFLOW_CONN_AIRBYTE_BENCH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from environment import HERE, PYTHON, ROOT

CONN_ID = "airbyte_bench"


class LineProcess:
    """A child that speaks one JSON object per line on stdin/stdout; stderr goes to a file, shown
    when the child dies without answering."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, logname: str = "child") -> None:
        self.log_path = Path(tempfile.gettempdir()) / f"airbyte-bench-{os.getpid()}-{logname}.log"
        self._log = self.log_path.open("w")
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(
            argv, stdin=pipe, stdout=pipe, stderr=self._log, text=True, env=env, cwd=ROOT
        )

    @classmethod
    def provider(
        cls, impl: str, script: str, info: dict[str, Any], logname: str, **flags: Any
    ) -> LineProcess:
        """``benchmarks/<script>`` run by ``impl``'s Python with ``--impl``, ``--conn-id`` and ``flags``
        (``api`` chooses the connection's dialect), its connection pointed at the emulator ``info``
        describes."""
        env = conn_env(impl, info, flags.pop("api", "public"))
        argv = [PYTHON[impl], str(HERE / script), "--impl", impl, "--conn-id", CONN_ID]
        for name, value in flags.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        return cls(argv, env=env, logname=logname)

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log_path.read_text()[-3000:]
            raise RuntimeError(f"child exited ({self.proc.returncode}) without answering; its log:\n{tail}")
        return json.loads(line)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def call(self, obj: dict[str, Any], who: str) -> dict[str, Any]:
        """Send ``obj`` and return the answer; raise if it failed (the emulator says ``ok``, the
        providers' processes only ``error``)."""
        self.send(obj)
        answer = self.read()
        if not answer.get("ok", "error" not in answer):
            raise RuntimeError(f"{who}: {answer['error']}\n{answer.get('trace', '')}".rstrip())
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


class Emulators:
    """The emulator process, shared by threads: ``emu(op, **kwargs)`` returns its answer or raises."""

    def __init__(self) -> None:
        self.child = LineProcess([PYTHON["ours"], str(HERE / "emulator_server.py")], logname="emulator")
        self.child.read()
        self._lock = threading.Lock()

    def __call__(self, op: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            return self.child.call({"op": op, **kwargs}, f"emulator {op}")

    def close(self) -> None:
        try:
            self.child.send({"op": "quit"})
            self.child.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.child.close()


def conn_env(impl: str, info: dict[str, Any], api: str = "public") -> dict[str, str]:
    """The environment of a provider's process: ``AIRFLOW_CONN_AIRBYTE_BENCH`` (JSON) pointed at the
    emulator ``info`` describes, in the official provider's form or ours (either API)."""
    token_url = info["public_api_url"] + "/applications/token"
    conn: dict[str, Any] = {
        "conn_type": "airbyte_sync",
        "host": info["public_api_url"],
        "login": info["client_id"],
        "password": info["client_secret"],
    }
    if impl == "official":
        conn |= {"conn_type": "airbyte", "schema": token_url}
    elif api == "config":
        extra = {"auth_type": "client_credentials", "token_url": token_url}
        conn |= {"host": info["config_api_url"], "extra": json.dumps(extra)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env

"""One sync through a provider's operator, as a worker and a triggerer run it.

Runs in the project's venv (``--impl ours``) or in the benchmark venv of the official provider
(``--impl official``). Two roles, each a process of its own as in Airflow:

* ``worker``: builds ``AirbyteTriggerSyncOperator`` and calls ``execute(context)``. Blocking, it
  returns when the job ended (``task_end`` is then); deferrable, it raises ``TaskDeferred`` and this
  process prints the trigger's ``serialize()`` output, as Airflow stores it.
* ``triggerer``: re-creates the trigger from that classpath and kwargs (as the triggerer does) and
  runs it to its event.

Protocol with ``run.py``: one JSON line ``{"ready": true}`` after imports, then one JSON command line
in, one JSON result line out. The worker's context is a stand-in: an XCom push that keeps values in
memory and no task state store.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from types import SimpleNamespace
from typing import Any


class _TaskInstance:
    max_tries = 0
    try_number = 1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def operator_class(impl: str) -> Any:
    if impl == "ours":
        import requests  # noqa: F401 - the hook imports it on first use: a process-start cost

        from airflow_provider_airbyte_sync.operators.airbyte import AirbyteTriggerSyncOperator
    else:
        from airflow.providers.airbyte.operators.airbyte import AirbyteTriggerSyncOperator
    return AirbyteTriggerSyncOperator


def worker(impl: str, conn_id: str, command: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import TaskDeferred

    operator = operator_class(impl)(
        task_id="sync",
        connection_id=command["connection_id"],
        airbyte_conn_id=conn_id,
        deferrable=command["deferrable"],
        wait_seconds=command["interval"],
        timeout=3600,
    )
    context: Any = {"ti": _TaskInstance(), "dag_run": SimpleNamespace(clear_number=0)}
    started = time.time()
    try:
        result = operator.execute(context)
    except TaskDeferred as deferred:
        classpath, kwargs = deferred.trigger.serialize()
        return {
            "deferred": True,
            "classpath": classpath,
            "kwargs": kwargs,
            "started": started,
            "task_end": time.time(),
        }
    return {"deferred": False, "job_id": result, "started": started, "task_end": time.time()}


def triggerer(impl: str, command: dict[str, Any]) -> dict[str, Any]:
    if impl == "ours":
        import aiohttp  # noqa: F401 - the trigger imports it on first use: a process-start cost
    module, _, name = command["classpath"].rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**command["kwargs"])

    async def watch() -> list[tuple[float, Any]]:
        events = []
        async for event in trigger.run():
            events.append((time.time(), event.payload))
        return events

    events = asyncio.run(watch())
    return {"events": [{"time": t, "status": p.get("status"), "job_id": p.get("job_id")} for t, p in events]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=("ours", "official"), required=True)
    p.add_argument("--role", choices=("worker", "triggerer"), required=True)
    p.add_argument("--conn-id", required=True)
    args = p.parse_args()
    out = os.fdopen(os.dup(1), "w", buffering=1)  # protocol lines only; logs go to stderr
    os.dup2(2, 1)
    operator_class(args.impl)
    if args.role == "triggerer" and args.impl == "ours":
        import airflow_provider_airbyte_sync.triggers.airbyte  # noqa: F401
    print(json.dumps({"ready": True}), file=out, flush=True)
    command = json.loads(sys.stdin.readline())
    try:
        if args.role == "worker":
            answer = worker(args.impl, args.conn_id, command)
        else:
            answer = triggerer(args.impl, command)
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print(json.dumps(answer), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

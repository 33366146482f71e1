"""What differs between the Airflow 3 lines this provider runs on (3.0 to 3.3), found by feature.

Every other module imports what moved between lines from here and asks here what a line can do;
nothing else looks at Airflow's version, and nothing here does either: each difference is detected
by the feature itself.

| feature | lines | detected by |
|---|---|---|
| ``airflow.sdk.BaseHook`` | 3.1+ (3.0: ``airflow.hooks.base``) | import |
| ``airflow.sdk.conf`` | 3.2+ (3.0, 3.1: ``airflow.configuration``) | import |
| ``airflow.sdk.exceptions.AirflowException`` | 3.1+ (3.0: ``airflow.exceptions``) | import |
| the task state store, ``context["task_state_store"]`` | 3.3+ | the context key |
| masking without blocking the event loop (``aextra_dejson``, ``amask_secret``) | 3.3.2+ | attribute |
| ``BaseTrigger.on_kill`` (a deferred task marked failed or success) | 3.3+ | attribute |
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[attr-defined,no-redef]
try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.0, 3.1
    from airflow.configuration import conf  # type: ignore[assignment]
try:
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # Airflow 3.0
    from airflow.exceptions import AirflowException
from airflow.sdk import Connection

__all__ = ["AirflowException", "BaseHook", "conf"]

# Airflow 3.3.2+: the connection's secrets are masked asynchronously (before, ``aget_connection``
# masks with a blocking call to the supervisor that fails when another call is in flight on the loop).
ASYNC_MASKING = hasattr(Connection, "aextra_dejson")


def trigger_on_kill() -> bool:
    """Airflow 3.3+: a deferred task marked failed or success (or cleared) runs its trigger's ``on_kill``.

    Before, the trigger is only cancelled and the job runs on until the trigger's own deadline.
    (A function: the triggers module is imported only by a task that defers.)
    """
    from airflow.triggers.base import BaseTrigger

    return hasattr(BaseTrigger, "on_kill")


def say_what_a_kill_does(log: logging.Logger | Any, job_id: int) -> None:
    """Before deferring on an owned job: where the trigger has no ``on_kill``, the log says so."""
    if not trigger_on_kill():
        log.info(
            "This Airflow runs no trigger on_kill (3.3+): marking this deferred task failed or success "
            "does not cancel Airbyte job %s; the task's timeout still does.",
            job_id,
        )


async def aget_connection(conn_id: str) -> Any:
    """The Airflow connection, read without blocking the triggerer's event loop on any line."""
    if ASYNC_MASKING:
        return await BaseHook.aget_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


async def amask_secret(value: str) -> None:
    """Mask a secret from async code without blocking the event loop."""
    if ASYNC_MASKING:
        from airflow.sdk.log import amask_secret as mask

        await mask(value)
        return
    from airflow.sdk.log import mask_secret
    from asgiref.sync import sync_to_async

    await sync_to_async(mask_secret)(value)


# ---------------------------------------------------------------------- where a try's record survives
class VariableStore:
    """A task instance's values kept in Airflow Variables, for lines without the task state store.

    One Variable per (dag run, task, map index, key), written through the Task SDK (each write is
    answered by the API server before the task goes on, and read back to prove it was kept: the
    SDK's ``Variable.set`` only logs a failed write). XComs cannot serve: Airflow clears a task's
    XComs when a new try starts. The dag run is named by its id and its start: a run deleted and
    made again under the same id (``dag.test`` does that) must not find the old run's record.
    The operator never deletes its record: until Airflow has recorded the try's success, a retry
    must still find its job (the README says how to clear old ones).
    """

    kind = "variable"

    def __init__(self, ti: Any, run_start: Any = None) -> None:
        self.ti = ti
        self.run_start = run_start.isoformat() if hasattr(run_start, "isoformat") else run_start

    def name(self, key: str) -> str:
        ti = self.ti
        run = f"{ti.run_id}@{self.run_start}" if self.run_start else ti.run_id
        return variable_name(ti.dag_id, run, ti.task_id, getattr(ti, "map_index", -1), key)

    def get(self, key: str, default: Any = None) -> Any:
        from airflow.sdk import Variable

        return Variable.get(self.name(key), default=default, deserialize_json=True)

    def set(self, key: str, value: Any) -> None:
        from airflow.sdk import Variable

        name, ti = self.name(key), self.ti
        description = (
            f"airflow-provider-airbyte-sync: {key} of task {ti.task_id} (map index "
            f"{getattr(ti, 'map_index', -1)}) of {ti.dag_id} run {ti.run_id} started {self.run_start}."
        )
        Variable.set(name, value, description=description, serialize_json=True)
        if Variable.get(name, default=None, deserialize_json=True) != json.loads(json.dumps(value)):
            raise AirflowException(
                f"Could not keep this task's {key} in Airflow Variable {name!r} (the write was not "
                "kept): stopping before anything else is sent to Airbyte."
            )

    def forget(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.name(key))


def variable_name(dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> str:
    """The Variable of :class:`VariableStore` (Airflow keys hold 250 characters: the ids are hashed)."""
    ids = json.dumps([dag_id, run_id, task_id, map_index])
    return f"airbyte_sync.{key}.{hashlib.sha256(ids.encode()).hexdigest()[:32]}"


_TOLD: set[tuple[Any, ...]] = set()  # the tries whose log already says where their record is kept


def state_store(context: Any, log: logging.Logger | Any, key: str) -> Any:
    """Where this try keeps what the next try must find; the task log says once which guarantee holds.

    The task state store (Airflow 3.3+), else Airflow Variables (:class:`VariableStore`), else (a
    context with no task instance, e.g. a unit test calling ``execute``) ``None``: the start protocol
    then reconciles by job id within the try only.
    """
    store = context.get("task_state_store")
    ti = context.get("ti")
    if store is None and all(hasattr(ti, name) for name in ("dag_id", "run_id", "task_id")):
        store = VariableStore(ti, getattr(context.get("dag_run"), "start_date", None))
    # Keyed by the try's ids, not the object: a freed task instance's id() is soon another's.
    ids = ("dag_id", "run_id", "task_id", "map_index", "try_number")
    told = (*(getattr(ti, name, None) for name in ids), store is None)
    if store is not None and not isinstance(store, VariableStore):
        return store
    if told not in _TOLD:
        _TOLD.add(told)
        if store is None:
            log.warning(
                "No task state store and no task instance: a retry of this task cannot find its "
                "Airbyte job and may start a second one (exactly once holds within this try only)."
            )
        else:
            log.info(
                "This Airflow has no task state store (3.3+): what a retry of this task must find "
                "(its Airbyte job) is kept in Airflow Variable %r; deleting that Variable before this "
                "task instance has succeeded can start a second sync.",
                store.name(key),
            )
    return store


def forget(store: Any, key: str) -> None:
    """The task succeeded: drop what only a Variable kept (the task state store keeps its own)."""
    if isinstance(store, VariableStore):
        store.forget(key)

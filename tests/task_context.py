"""A minimal Airflow task context for running operators in-process against the emulator.

Only Airflow's side is stood in for (XCom, the task state store, the dag run's clear number, the
task instance's max_tries); the provider's code and the HTTP to the emulator are real. Values are
JSON round-tripped as Airflow stores them, so a non-primitive in XCom or state fails here too.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any


class TaskInstance:
    def __init__(self, max_tries: int = 0, try_number: int = 1) -> None:
        self.xcoms: dict[str, Any] = {}
        self.max_tries = max_tries
        self.try_number = try_number

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))


class StateStore:
    """``context["task_state_store"]``: survives retries and clears (as Airflow's does)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))


class Run:
    """One task instance across tries: ``next_try()`` is a retry, ``clear()`` a user's Clear."""

    def __init__(self, retries: int = 2) -> None:
        self.store = StateStore()
        self.clear_number = 0
        self.retries = retries
        self.try_number = 1
        self.max_tries = retries
        self.ti = TaskInstance(self.max_tries)

    def context(self) -> dict[str, Any]:
        return {
            "ti": self.ti,
            "task_state_store": self.store,
            "dag_run": SimpleNamespace(clear_number=self.clear_number),
        }

    def next_try(self) -> dict[str, Any]:
        self.try_number += 1
        self.ti = TaskInstance(self.max_tries, self.try_number)
        return self.context()

    def clear(self) -> dict[str, Any]:
        self.clear_number += 1
        self.max_tries = self.try_number + self.retries
        self.try_number += 1
        self.ti = TaskInstance(self.max_tries, self.try_number)
        return self.context()

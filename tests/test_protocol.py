"""The start protocol's record and documentation, and the core's independence from Airflow.

The protocol's behaviour is tested over real HTTP (``test_operator.py``,
``test_exactly_once_regressions.py``, the fault search); here: what is stored, how an old or
foreign record reads, and that the README's table is the code's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_airbyte_sync.core import protocol, record
from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.record import RECORD_VERSION, Generation, StartRecord

README = Path(__file__).resolve().parents[1] / "README.md"
CID = "15bc3800-82e4-48c3-a32d-620661273f28"


def test_the_readme_shows_the_state_table_of_the_code() -> None:
    assert protocol.state_table_markdown() in README.read_text(encoding="utf-8")
    states = {row[0] for row in protocol.STATE_TABLE}
    assert states == {"(none)", *record.STATES}
    for *_, where in protocol.STATE_TABLE:
        for name in where.split(", "):
            assert callable(getattr(protocol, name)), name  # each rule the table names is in the flow


def test_a_record_round_trips_through_json_primitives() -> None:
    import json

    record = StartRecord(CID, "sync", Generation(2, 5), "sent", note=7, sent_at=(1.5e9, 1.6e9))
    stored = json.loads(json.dumps(record.to_dict()))
    assert stored["version"] == RECORD_VERSION
    assert StartRecord.from_dict(stored) == record


def test_a_record_of_the_earlier_untyped_format_is_read() -> None:
    generation = {"clear_number": 1, "max_tries": 3}
    owned = StartRecord.from_dict(
        {"connection_id": CID.upper(), "job_type": "sync", **generation, "job_id": 9}
    )
    assert owned is not None and (owned.state, owned.job_id, owned.connection_id) == ("owned", 9, CID)
    attached = StartRecord.from_dict({"connection_id": CID, "job_id": 9, "owned": False, **generation})
    assert attached is not None and attached.state == "attached"
    # A bare note cannot say whether its create went out, nor when: it proves nothing.
    assert (
        StartRecord.from_dict({"connection_id": CID, "after_job_id": 4, "job_id": None, **generation}) is None
    )
    assert StartRecord.from_dict("not a record") is None


@pytest.mark.parametrize("data", [{"version": 99, "state": "owned"}, {"version": 2, "state": "lost"}])
def test_a_record_this_release_cannot_read_is_refused_with_the_fix(data: dict) -> None:
    with pytest.raises(AirbyteConfigError, match="clear the task"):
        StartRecord.from_dict(data)


def test_a_retry_is_the_same_generation_and_a_clear_is_not() -> None:
    assert Generation(0, 2).same_as(Generation(0, 2))
    assert not Generation(1, 5).same_as(Generation(1, 2))  # a Clear sets max_tries anew
    assert Generation(1, None).same_as(Generation(1, 3)) and not Generation(0, None).same_as(Generation(1, 3))


def test_the_core_imports_nothing_from_airflow() -> None:
    """Every module under ``core/`` imports with ``airflow``, ``requests`` and ``aiohttp`` unimportable."""
    code = (
        "import importlib, pkgutil, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('airflow', 'requests', 'aiohttp'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import airflow_provider_airbyte_sync.core as core\n"
        "names = [m.name for m in pkgutil.iter_modules(core.__path__, core.__name__ + '.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(*names)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    names = done.stdout.split()
    assert len(names) >= 10  # the check saw the whole core, not an empty package
    assert "airflow_provider_airbyte_sync.core.watch" in names  # the loop the tasks share, too

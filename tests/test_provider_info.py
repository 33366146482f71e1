"""The provider's registration: a broken provider info breaks every `airflow` command."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_airbyte_sync import get_provider_info


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_form_behaviour_validates_against_airflows_schema() -> None:
    schema = json.loads(
        (Path(airflow.__file__).parent / "customized_form_field_behaviours.schema.json").read_text()
    )
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    jsonschema.validate(
        {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        },
        schema,
    )


def test_entry_point_is_registered_and_package_name_matches_distribution() -> None:
    found = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_airbyte_sync")
    ]
    assert len(found) == 1
    assert found[0].load() is get_provider_info
    assert found[0].dist is not None
    assert found[0].dist.metadata["Name"].lower().replace("_", "-") == get_provider_info()["package-name"]


def test_every_module_and_class_named_in_provider_info_imports() -> None:
    info = get_provider_info()
    modules = [
        m
        for key in ("operators", "sensors", "hooks", "triggers")
        for e in info[key]
        for m in e["python-modules"]
    ]
    for name in modules:
        importlib.import_module(name)
    for dotted in [info["connection-types"][0]["hook-class-name"], *info["extra-links"]]:
        module, _, cls = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), cls), dotted


def test_connection_type_is_ours_not_the_official_one() -> None:
    conn_type = get_provider_info()["connection-types"][0]
    assert conn_type["connection-type"] == "airbyte_sync"
    from airflow_provider_airbyte_sync.hooks.airbyte import AirbyteHook

    assert AirbyteHook.conn_type == "airbyte_sync"
    assert AirbyteHook.default_conn_name == "airbyte_default"
    # the token is a secret: Airflow's form hides fields whose schema format is "password"
    assert conn_type["conn-fields"]["token"]["schema"]["format"] == "password"


def test_airflow_providers_manager_sees_our_connection_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-airbyte-sync" in manager.providers
    assert "extra__airbyte_sync__api_type" in manager.connection_form_widgets
    assert manager.field_behaviours["airbyte_sync"]["hidden_fields"] == ["schema"]

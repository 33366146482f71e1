"""The provider's errors as Airflow code sees them: each one also an ``AirflowException``.

The core raises the classes of :mod:`airflow_provider_airbyte_sync.core.errors` and knows nothing
of Airflow. DAG code written for the official provider catches ``AirflowException`` around hook
calls, so the hook raises, for each core class, a subclass of it and of ``AirflowException`` of
the same name defined here: ``except AirbyteJobFailed`` (the core's class) and ``except
AirflowException`` both catch it. Task methods raise them too (:func:`airflow_errors`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from airflow_provider_airbyte_sync.compat import AirflowException
from airflow_provider_airbyte_sync.core import errors


def _subclasses(cls: type[errors.AirbyteError]) -> list[type[errors.AirbyteError]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


# Module-level names, so an error pickles and unpickles as its Airflow-facing class.
_FOR_AIRFLOW: dict[type, type] = {
    core: type(core.__name__, (core, AirflowException), {"__module__": __name__, "__doc__": core.__doc__})
    for core in _subclasses(errors.AirbyteError)
}
globals().update({cls.__name__: cls for cls in _FOR_AIRFLOW.values()})


def for_airflow(error: Any) -> Any:
    """``error`` as its Airflow-facing class (same message, attributes and traceback); any other
    exception, or one already converted, is answered unchanged."""
    cls = _FOR_AIRFLOW.get(type(error))
    if cls is None:
        return error
    converted = cls.__new__(cls, *error.args)
    converted.__dict__.update(error.__dict__)
    converted.__cause__, converted.__context__ = error.__cause__, error.__context__
    converted.__suppress_context__ = error.__suppress_context__
    return converted.with_traceback(error.__traceback__)


P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=type)


def airflow_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Decorate a hook or task method: the core errors it raises leave it as Airflow-facing ones."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except errors.AirbyteError as exc:
            raise for_airflow(exc) from exc.__cause__

    return wrapper


def raising_for_airflow(cls: C) -> C:
    """Decorate a class: ``__init__`` and each public method it defines raise Airflow-facing errors
    (a method added later is covered too)."""
    for name, value in list(vars(cls).items()):
        if inspect.isfunction(value) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, airflow_errors(value))
    return cls

"""Route table: (method, path template) -> handler, with 404/405 decided per API family."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from airflow_provider_airbyte_sync.testing.httpserver import Request, Response

__all__ = ["CONFIG_PREFIX", "PUBLIC_PREFIXES", "Match", "Route", "Router", "api_of_path"]

CONFIG_PREFIX = "/api/v1"
#: OSS since 0.52 serves the public API under /api/public/v1; Cloud (and OSS 0.50-0.51 on port 8006)
#: under /v1.
PUBLIC_PREFIXES = ("/api/public/v1", "/v1")

Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # full path, e.g. "/api/public/v1/jobs/{jobId}"
    handler: Handler
    api: str  # "config" or "public"
    anonymous: bool = False  # health and token endpoints need no credentials


@dataclass
class Match:
    route: Route | None
    params: dict[str, str] = field(default_factory=dict)
    api: str = "other"
    status: int = 200  # 404 or 405 when route is None
    allowed: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str | None:
        return self.route.template if self.route is not None else None


def api_of_path(path: str) -> str:
    if path == CONFIG_PREFIX or path.startswith(CONFIG_PREFIX + "/"):
        return "config"
    for prefix in PUBLIC_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return "public"
    return "other"


class Router:
    """Exact paths through a dict; templated ones (``{name}`` segments) through regexes."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        patterns: dict[str, dict[str, Route]] = {}
        for route in routes:
            if "{" in route.template:
                patterns.setdefault(route.template, {})[route.method] = route
            else:
                self._static.setdefault(route.template, {})[route.method] = route
        for template, by_method in patterns.items():
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            self._dynamic.append((re.compile(f"^{regex}$"), by_method))

    def resolve(self, method: str, path: str) -> Match:
        by_method = self._static.get(path)
        params: dict[str, str] = {}
        if by_method is None:
            for regex, candidates in self._dynamic:
                m = regex.match(path)
                if m is not None:
                    by_method, params = candidates, m.groupdict()
                    break
        if by_method is None:
            return Match(None, api=api_of_path(path), status=404)
        route = by_method.get(method)
        if route is None:
            return Match(None, api=api_of_path(path), status=405, allowed=tuple(sorted(by_method)))
        return Match(route, params, route.api)

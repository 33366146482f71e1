"""What both transports need beyond the flows: the user agent, proxies and the SSL context."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_airbyte_sync.core.errors import AirbyteConfigError
from airflow_provider_airbyte_sync.core.settings import Settings

if TYPE_CHECKING:
    import ssl


USER_AGENT = "airflow-provider-airbyte-sync"


def proxy_for(settings: Settings, url: str) -> str | None:
    """The proxy for a URL: the connection's own, else the environment's (``HTTPS_PROXY``,
    ``NO_PROXY``...), as ``requests`` picks it on the hook's path.
    """
    scheme = url.split(":", 1)[0].lower()
    if settings.proxies:
        return settings.proxies.get(scheme)
    from urllib.request import getproxies, proxy_bypass

    host = urlsplit(url).hostname or ""
    proxies = getproxies()
    if not proxies or proxy_bypass(host):
        return None
    return proxies.get(scheme)


@lru_cache(maxsize=8)
def ssl_context(verify: bool | str) -> ssl.SSLContext | None:
    """One SSL context per CA bundle, shared by both transports (``None``: the library default).

    Building a context costs tens of milliseconds of CPU: never build one per request or per watch.
    """
    if not isinstance(verify, str):
        return None
    import ssl as ssl_module

    try:
        return ssl_module.create_default_context(cafile=verify)
    except (OSError, ssl_module.SSLError) as exc:
        raise AirbyteConfigError(
            f"The CA bundle {verify!r} (extra 'ca_bundle') cannot be read as PEM certificates: {exc}."
        ) from None

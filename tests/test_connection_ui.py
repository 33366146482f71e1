"""The connection form as a user sees it: a real Airflow API server, its React UI and the Test button.

One API server (SQLite, throw-away ``AIRFLOW_HOME``) serves the whole module. The API tests read the
form's metadata (``GET /ui/connections/hook_meta``) and press Test through the REST API
(``POST /api/v2/connections/test``) against an in-process Airbyte emulator in each auth mode. The
browser test fills the form in headless Chromium (Debian's ``chromium`` and ``chromium-driver``),
saves it, presses Test and reads the connection back. It also writes the screenshot in
``docs/connection-form.png`` (refreshed with ``UPDATE_SCREENSHOTS=1``).

With ``[core] simple_auth_manager_all_admins = True`` the API needs no token: every request is
treated as an admin's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_airbyte_sync import get_provider_info
from airflow_provider_airbyte_sync.core.settings import settings_from_connection
from airflow_provider_airbyte_sync.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    AirbyteEmulator,
)
from tests.real_airflow import base_env, free_port, stop_groups

# These drive a real API server and a browser on shared machines: a failed test is run once more
# before it counts (each test has its own emulator, so a rerun starts clean), and pytest reports it.
pytestmark = pytest.mark.flaky(reruns=1, reruns_delay=2)


ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "connection-form.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1400,2600",
)
STARTUP_DEADLINE_S = 90
WRONG_SECRET = "wrong-Secret-5f0c2e"  # distinctive: easy to spot if a response echoes it

CONNECTION_TYPE = get_provider_info()["connection-types"][0]
EXTRA_LABELS = {
    "api_type": "API",
    "auth_type": "Auth type",
    "token": "Bearer token",
    "token_url": "Token URL",
    "api_version": "API version",
    "connect_timeout": "Connect timeout (s)",
    "read_timeout": "Read timeout (s)",
    "create_timeout": "Create timeout (s)",
    "verify_ssl": "Verify TLS certificates",
    "ca_bundle": "CA bundle",
    "proxies": "Proxy",
    "web_url": "Airbyte web UI URL",
}


# ---------------- fixtures
@dataclass
class AirflowApi:
    """A running ``airflow api-server``: its base URL and its log."""

    url: str
    log: Path

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=60)

    def test_connection(self, **fields: Any) -> dict[str, Any]:
        """What the Test button asks: ``{"status": bool, "message": str}``."""
        body = {"connection_id": "airbyte_form_test", "conn_type": "airbyte_sync", **fields}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        response = self.post("/api/v2/connections/test", body)
        assert response.status_code == 200, response.text
        return response.json()

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"


@pytest.fixture(scope="module")
def airflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApi]:
    """``airflow api-server`` on a free port of 127.0.0.1, stopped after the module."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {**base_env(home), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    airflow = [sys.executable, "-m", "airflow"]
    migrate = subprocess.run(
        [*airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if migrate.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")

    port = free_port()
    api = AirflowApi(url=f"http://127.0.0.1:{port}", log=home / "api-server.log")
    with api.log.open("wb") as log:
        process = subprocess.Popen(
            [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"airflow api-server exited with {process.returncode}:\n{api.log_tail()}")
            try:
                if api.get("/api/v2/monitor/health").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server not up after {STARTUP_DEADLINE_S}s:\n{api.log_tail()}")
            time.sleep(0.5)
        yield api
    finally:
        stop_groups([process])


@pytest.fixture
def airbyte() -> Iterator[Callable[..., AirbyteEmulator]]:
    """Start emulators (``airbyte(auth="basic")``) in this process; all stopped after the test."""
    started: list[AirbyteEmulator] = []

    def start(auth: str = "none") -> AirbyteEmulator:
        emulator = AirbyteEmulator(auth=auth).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


# ---------------- the form's metadata
def _hook_meta(api: AirflowApi) -> dict[str, Any]:
    response = api.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    ours = [entry for entry in response.json() if entry["connection_type"] == "airbyte_sync"]
    assert len(ours) == 1, [entry["connection_type"] for entry in response.json()]
    return ours[0]


def test_hook_meta_offers_the_connection_type(airflow_api: AirflowApi) -> None:
    meta = _hook_meta(airflow_api)
    assert meta["hook_name"] == "Airbyte (sync)"
    assert meta["hook_class_name"] == "airflow_provider_airbyte_sync.hooks.airbyte.AirbyteHook"


def test_hook_meta_relabels_hides_and_explains_the_standard_fields(airflow_api: AirflowApi) -> None:
    standard = _hook_meta(airflow_api)["standard_fields"]
    assert standard["url_schema"]["hidden"] is True  # "schema" in hidden-fields
    assert standard["host"] == {
        "hidden": False,
        "title": "Host or base URL",
        "placeholder": "localhost, or https://api.airbyte.com/v1, or http://airbyte:8000/api/public/v1",
    }
    assert standard["port"] == {
        "hidden": False,
        "title": None,
        "placeholder": "8000 (ignored when Host is a full URL)",
    }
    assert standard["login"] == {
        "hidden": False,
        "title": "Login (user or client id)",
        "placeholder": "airbyte (Basic) or a client id",
    }
    assert standard["password"] == {
        "hidden": False,
        "title": "Password (or client secret)",
        "placeholder": "password (Basic) or a client secret",
    }
    behaviour = CONNECTION_TYPE["ui-field-behaviour"]
    for field in ("host", "port", "login", "password"):
        assert standard[field]["placeholder"] == behaviour["placeholders"][field]


def test_hook_meta_lists_the_extra_fields_with_labels_types_and_defaults(airflow_api: AirflowApi) -> None:
    extra = _hook_meta(airflow_api)["extra_fields"]
    assert {name: field["schema"]["title"] for name, field in extra.items()} == EXTRA_LABELS
    assert set(extra) == set(CONNECTION_TYPE["conn-fields"])

    assert extra["api_type"]["schema"]["enum"] == ["auto", "config", "public"]
    assert extra["auth_type"]["schema"]["enum"] == ["auto", "none", "basic", "bearer", "client_credentials"]
    assert extra["api_type"]["value"] == extra["auth_type"]["value"] == "auto"
    # The token is the one sensitive extra: a password input, masked by Airflow.
    assert extra["token"]["schema"]["format"] == "password"
    assert [name for name, field in extra.items() if field["schema"].get("format") == "password"] == ["token"]
    assert {name: extra[name]["value"] for name in ("connect_timeout", "read_timeout", "create_timeout")} == {
        "connect_timeout": 10,
        "read_timeout": 30,
        "create_timeout": 180,
    }
    assert extra["connect_timeout"]["schema"]["type"] == ["number", "null"]
    assert extra["verify_ssl"]["schema"]["type"] == ["boolean", "null"]
    assert extra["verify_ssl"]["value"] is True
    for name, field in extra.items():
        assert field["description"], f"{name} has no help text"
    assert "applications/token" in extra["token_url"]["description"]


# ---------------- the Test button's API
def test_connection_passes_without_auth(
    airflow_api: AirflowApi, airbyte: Callable[..., AirbyteEmulator]
) -> None:
    emulator = airbyte(auth="none")
    result = airflow_api.test_connection(host=emulator.url)
    assert result == {
        "status": True,
        "message": f"Connected to Airbyte's config API at {emulator.config_api_url} (auth: none); "
        "the credentials work.",
    }
    assert emulator.stats()["requests"] >= 1  # the API server really asked the emulator


def test_connection_passes_with_basic_auth(
    airflow_api: AirflowApi, airbyte: Callable[..., AirbyteEmulator]
) -> None:
    emulator = airbyte(auth="basic")
    result = airflow_api.test_connection(host=emulator.url, login=DEFAULT_USERNAME, password=DEFAULT_PASSWORD)
    assert result["status"] is True, result["message"]
    assert f"config API at {emulator.config_api_url} (auth: basic)" in result["message"]


def test_connection_passes_with_client_credentials(
    airflow_api: AirflowApi, airbyte: Callable[..., AirbyteEmulator]
) -> None:
    emulator = airbyte(auth="token")
    result = airflow_api.test_connection(
        host=emulator.public_api_url, login=DEFAULT_CLIENT_ID, password=DEFAULT_CLIENT_SECRET
    )
    assert result["status"] is True, result["message"]
    assert f"public API at {emulator.public_api_url} (auth: client_credentials)" in result["message"]
    assert DEFAULT_CLIENT_SECRET not in result["message"]


@pytest.mark.parametrize(
    ("auth", "fields", "reason"),
    [
        pytest.param(
            "basic",
            {"login": DEFAULT_USERNAME, "password": WRONG_SECRET},
            "Airbyte refused the credentials",
            id="basic-wrong-password",
        ),
        pytest.param(
            "token",
            {"login": DEFAULT_CLIENT_ID, "password": WRONG_SECRET},
            "Could not get an access token: Airbyte refused the credentials",
            id="client-credentials-wrong-secret",
        ),
        pytest.param(
            "token",
            {"extra": {"auth_type": "bearer", "token": WRONG_SECRET}},
            "Airbyte refused the credentials",
            id="bearer-wrong-token",
        ),
    ],
)
def test_wrong_credentials_fail_with_the_fix_and_no_secret(
    airflow_api: AirflowApi,
    airbyte: Callable[..., AirbyteEmulator],
    auth: str,
    fields: dict[str, Any],
    reason: str,
) -> None:
    emulator = airbyte(auth=auth)
    host = emulator.public_api_url if auth == "token" else emulator.url
    body = {"connection_id": "airbyte_form_test", "conn_type": "airbyte_sync", "host": host, **fields}
    if "extra" in body:
        body["extra"] = json.dumps(body["extra"])
    response = airflow_api.post("/api/v2/connections/test", body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] is False
    assert reason in result["message"]
    assert (
        "Check Login/Password (Basic user and password, or client id and secret) or the token"
        in (result["message"])
    )
    assert WRONG_SECRET not in response.text


def test_wrong_client_secret_fails_after_a_test_that_passed(
    airflow_api: AirflowApi, airbyte: Callable[..., AirbyteEmulator]
) -> None:
    emulator = airbyte(auth="token")
    good = airflow_api.test_connection(
        host=emulator.public_api_url, login=DEFAULT_CLIENT_ID, password=DEFAULT_CLIENT_SECRET
    )
    assert good["status"] is True, good["message"]
    bad = airflow_api.test_connection(
        host=emulator.public_api_url, login=DEFAULT_CLIENT_ID, password=WRONG_SECRET
    )
    assert bad["status"] is False, bad["message"]


# ---------------- the page in Chromium
@dataclass
class Page:
    """Small helpers over a Selenium driver for Airflow's React UI (Chakra components)."""

    driver: Any
    wait_s: float = 60  # a shared CI machine can be slow to render

    def wait(self, condition: Callable[[Any], Any], what: str) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, self.wait_s).until(condition, f"waiting for {what}")

    def find(self, xpath: str, root: Any = None) -> Any:
        from selenium.webdriver.common.by import By

        scope = root or self.driver

        def visible(_: Any) -> Any:
            found = [e for e in scope.find_elements(By.XPATH, xpath) if e.is_displayed()]
            return found[0] if found else False

        return self.wait(visible, xpath)

    def dialog(self, title: str) -> Any:
        return self.find(f"//*[@role='dialog'][.//h2[normalize-space()='{title}']]")

    def open_section(self, dialog: Any, title: str) -> Any:
        """Open an accordion section of the form (one is open at a time) and return its region."""
        from selenium.webdriver.common.by import By

        trigger = self.find(f".//button[@data-part='item-trigger'][normalize-space()='{title}']", dialog)
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        region = dialog.find_element(By.ID, trigger.get_attribute("aria-controls"))
        self.wait(lambda _: region.is_displayed(), f"section {title!r}")
        return region

    def labels(self, region: Any) -> list[str]:
        from selenium.webdriver.common.by import By

        return [
            label.text.strip()
            for label in region.find_elements(By.XPATH, ".//label[@data-scope='field'][@data-part='label']")
        ]

    def choose(self, region: Any, field: str, option: str) -> None:
        """Pick an option of a select extra field (a react-select combobox)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        select = self.find(f".//*[@id='element_{field}']", region)
        select.find_element(By.XPATH, ".//input[@role='combobox']").send_keys(option, Keys.ENTER)
        self.wait(lambda _: select.text.strip() == option, f"{field} = {option}")

    def retype(self, element: Any, value: str) -> None:
        from selenium.webdriver.common.keys import Keys

        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.DELETE)
        element.send_keys(value)

    def row_button(self, conn_id: str, label: str) -> Any:
        return self.find(
            f"//tr[td[@data-testid='table-cell-connection_id'][normalize-space()='{conn_id}']]"
            f"//button[@aria-label='{label}']"
        )

    def toast_ids(self) -> set[str]:
        from selenium.webdriver.common.by import By

        toasts = self.driver.find_elements(By.CSS_SELECTOR, "[data-scope='toast'][data-part='root']")
        return {t.get_attribute("id") for t in toasts}

    def press_test(self, conn_id: str) -> tuple[str, str]:
        """Press the row's Test button; return the new toast's type (success/error) and text."""
        from selenium.webdriver.common.by import By

        before = self.toast_ids()
        self.row_button(conn_id, "Test Connection").click()

        def new_toast(driver: Any) -> Any:
            for toast in driver.find_elements(By.CSS_SELECTOR, "[data-scope='toast'][data-part='root']"):
                if toast.get_attribute("id") not in before and toast.text.startswith("Test Connection"):
                    return toast.get_attribute("data-type"), toast.text
            return False

        return self.wait(new_toast, "the Test Connection toast")

    def screenshot(self, element: Any) -> str:
        """The element as a base64 PNG, with no focus ring or caret (steadier pictures)."""
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        return element.screenshot_as_base64

    def save(self, dialog: Any) -> None:
        from selenium.common.exceptions import StaleElementReferenceException

        self.find(".//footer//button[normalize-space()='Save']", dialog).click()

        def closed(_: Any) -> bool:
            try:
                return not dialog.is_displayed()
            except StaleElementReferenceException:
                return True

        self.wait(closed, "the dialog to close")


def _chromium(user_data_dir: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def _side_by_side(page: Page, shots: list[str]) -> bytes:
    """One PNG of several base64 PNGs, composed by the browser itself (no imaging library)."""
    from selenium.webdriver.common.by import By

    images = "".join(f'<img src="data:image/png;base64,{shot}" style="display:block">' for shot in shots)
    html = (
        '<body style="margin:0;background:#e2e8f0"><div id="shot" style="display:inline-flex;gap:16px;'
        f'padding:16px;align-items:flex-start">{images}</div></body>'
    )
    page.driver.set_window_size(2200, 2800)
    page.driver.get("about:blank")
    page.driver.execute_script("document.open(); document.write(arguments[0]); document.close();", html)
    page.wait(
        lambda d: d.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth)"),
        "the composed screenshot",
    )
    return page.driver.find_element(By.ID, "shot").screenshot_as_png


def _save_screenshot(png: bytes, tmp_path: Path) -> Path:
    """docs/connection-form.png when asked (UPDATE_SCREENSHOTS=1) or missing; else the test's tmp dir."""
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists() else None
    target = target or tmp_path / SCREENSHOT.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
    return target


def test_add_test_and_save_a_connection_in_the_browser(
    airflow_api: AirflowApi, airbyte: Callable[..., AirbyteEmulator], tmp_path: Path
) -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing)")
    pytest.importorskip("selenium", reason="selenium comes with the 'test' extra")
    from selenium.webdriver.common.by import By

    emulator = airbyte(auth="basic")
    conn_id = "airbyte_from_the_form"
    web_url = "https://airbyte.example.com"
    requests.delete(f"{airflow_api.url}/api/v2/connections/{conn_id}", timeout=30)  # a rerun starts clean

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = _chromium(profile)
        page = Page(driver)
        try:
            # Connections page > Add Connection > type "Airbyte (sync)".
            driver.get(f"{airflow_api.url}/connections")
            page.find("//button[normalize-space()='Add Connection']").click()
            dialog = page.dialog("Add Connection")
            page.find(".//input[@name='connection_id']", dialog).send_keys(conn_id)
            page.find(".//input[@role='combobox']", dialog).send_keys("Airbyte (sync)")
            page.find("//*[@role='option'][normalize-space()='Airbyte (sync)']").click()

            # Standard fields: relabelled, Schema hidden, our placeholders.
            standard = page.open_section(dialog, "Standard Fields")
            assert page.labels(standard) == [
                "Description",
                "Host or base URL",
                "Login (user or client id)",
                "Password (or client secret)",
                "Port",
            ]
            host = standard.find_element(By.NAME, "host")
            assert (
                host.get_attribute("placeholder")
                == CONNECTION_TYPE["ui-field-behaviour"]["placeholders"]["host"]
            )
            host.send_keys(emulator.url)
            standard.find_element(By.NAME, "login").send_keys(DEFAULT_USERNAME)
            password = standard.find_element(By.NAME, "password")
            assert password.get_attribute("type") == "password"
            password.send_keys(DEFAULT_PASSWORD)
            shots = [page.screenshot(dialog)]

            # Extra fields: every label, the token masked, pick a few values.
            extra = page.open_section(dialog, "Extra Fields")
            assert page.labels(extra) == list(EXTRA_LABELS.values())
            assert extra.find_element(By.NAME, "element_token").get_attribute("type") == "password"
            page.choose(extra, "api_type", "config")
            page.choose(extra, "auth_type", "basic")
            page.retype(extra.find_element(By.NAME, "element_read_timeout"), "20")
            extra.find_element(By.NAME, "element_web_url").send_keys(web_url)
            shots.append(page.screenshot(dialog))
            page.save(dialog)
            page.row_button(conn_id, "Test Connection")  # listed

            # Read it back through the REST API: what was typed, and what the provider makes of it.
            stored = airflow_api.get(f"/api/v2/connections/{conn_id}").json()
            assert stored["conn_type"] == "airbyte_sync"
            assert stored["host"] == emulator.url
            assert stored["login"] == DEFAULT_USERNAME
            assert stored["port"] is None
            assert stored["password"] == "***"  # masked by the API
            saved_extra = json.loads(stored["extra"])
            assert saved_extra == {
                "api_type": "config",
                "auth_type": "basic",
                "token": None,
                "token_url": None,
                "api_version": "v1",
                "connect_timeout": 10,
                "read_timeout": 20,
                "create_timeout": 180,
                "verify_ssl": True,
                "ca_bundle": None,
                "proxies": None,
                "web_url": web_url,
            }
            settings = settings_from_connection(
                conn_id=conn_id,
                conn_type=stored["conn_type"],
                host=stored["host"],
                port=stored["port"],
                login=stored["login"],
                password=DEFAULT_PASSWORD,
                extra=saved_extra,
            )
            assert (settings.base_url, settings.flavour, settings.auth) == (
                emulator.config_api_url,
                "config",
                "basic",
            )
            assert (settings.read_timeout, settings.connect_timeout, settings.web_url) == (
                20.0,
                10.0,
                web_url,
            )

            # Test (a row action in Airflow 3.3). Airflow 3.3.2's UI sends port 0 for an empty Port
            # and the API then answers 400 "Bad Request" (apache/airflow#73298). The work-around a
            # user has: put the URL's port in Port (a URL host ignores Port), through Edit.
            kind, text = page.press_test(conn_id)
            if kind == "error" and "Bad Request" in text:
                page.row_button(conn_id, "Edit Connection").click()
                dialog = page.dialog("Edit Connection")
                standard = page.open_section(dialog, "Standard Fields")
                standard.find_element(By.NAME, "port").send_keys(str(emulator.port))
                page.save(dialog)
                assert airflow_api.get(f"/api/v2/connections/{conn_id}").json()["extra"] == stored["extra"]
                kind, text = page.press_test(conn_id)
            assert kind == "success", text
            assert text.startswith("Test Connection Successful")
            assert f"config API at {emulator.config_api_url} (auth: basic); the credentials work." in text
            assert DEFAULT_PASSWORD not in text

            written = _save_screenshot(_side_by_side(page, shots), tmp_path)
            assert written.read_bytes().startswith(b"\x89PNG")
        except Exception:
            debug = tmp_path / "page.html"
            debug.write_text(driver.page_source)
            driver.save_screenshot(str(tmp_path / "page.png"))
            print(f"page source and screenshot in {tmp_path}; API server log:\n{airflow_api.log_tail()}")
            raise
        finally:
            driver.quit()

    # The emulator saw the Test's authenticated call.
    assert any(key.startswith("POST /api/v1/") for key in emulator.stats()["by_endpoint"])

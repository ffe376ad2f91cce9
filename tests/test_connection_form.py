"""The connection form in a real browser: a multi-line SSH key typed in, saved, and tested.

Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) drives the Airflow UI of a
real API server the way a person would: log in, Admin > Connections > Add, pick "Flux Git
repository", paste an SSH URL, the passphrase-protected private key (several lines, into a
text area) and known_hosts, save, then press the row's "Test" button. The test passes only
if the key survived the form intact: the button's check is a ``git ls-remote`` over SSH
with it. Screenshots of each step are written beside the test's temp folder
(``connection-form-*.png``) and their paths printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from flux_devkit.services.airflow_api import ADMIN, AirflowApiServer, start_airflow_api_server
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.git_ssh import GitSSHServer
from tests.browser import headless_chromium

pytestmark = pytest.mark.timeout(600)
CONN_ID = "ui-git-ssh"


@pytest.fixture(scope="module")
def api_server(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    env = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    server = start_airflow_api_server(airflow_home, tmp_path_factory.mktemp("ui-api"), env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as session:
        yield session


def _click(browser: WebDriver, text: str) -> None:
    """Click the button labelled ``text`` once React has rendered it (it re-renders as it loads)."""
    locator = (By.XPATH, f"//button[normalize-space()='{text}']")
    WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,)).until(
        expected_conditions.element_to_be_clickable(locator)
    ).click()


def _paste(browser: WebDriver, field: WebElement, text: str) -> None:
    """Paste ``text`` as a browser does (typing kilobytes key by key drops keys under load):
    the element's own value setter, then the input event React listens to. An ``<input>``
    strips line breaks here exactly as when a person pastes into it."""
    browser.execute_script(
        "const [el, text] = arguments;"
        "const proto = Object.getPrototypeOf(el);"
        "Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, text);"
        "el.dispatchEvent(new Event('input', {bubbles: true}));",
        field,
        text,
    )


def _shot(browser: WebDriver, folder: Path, name: str) -> Path:
    path = folder / f"connection-form-{name}.png"
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_a_multi_line_key_is_saved_and_tested_from_the_form(
    api_server: AirflowApiServer,
    browser: WebDriver,
    git_server: GitServer,
    git_ssh_server: GitSSHServer,
    tmp_path_factory: pytest.TempPathFactory,
):
    shots = tmp_path_factory.mktemp("screenshots")
    git_server.create_repo("ui-form-check", {"README.md": "hello\n"})
    url = git_ssh_server.url("ui-form-check")
    key = git_ssh_server.client_key
    assert key.count("\n") > 3  # a real multi-line OpenSSH key

    browser.get(f"{api_server.url}/")
    browser.find_element(By.NAME, "username").send_keys(ADMIN)
    password = browser.find_element(By.NAME, "password")
    password.send_keys(api_server.password)
    password.send_keys(Keys.ENTER)
    WebDriverWait(browser, 60).until(lambda b: "/auth/login" not in b.current_url)

    browser.get(f"{api_server.url}/connections")
    _click(browser, "Add Connection")
    browser.find_element(By.NAME, "connection_id").send_keys(CONN_ID)
    kind = browser.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    kind.click()
    kind.send_keys("Flux Git repository")
    browser.find_element(By.XPATH, "//*[@role='option'][normalize-space()='Flux Git repository']").click()
    browser.find_element(By.NAME, "host").send_keys(url)
    _click(browser, "Extra Fields")
    key_field = browser.find_element(By.ID, "element_ssh_private_key")
    assert key_field.tag_name == "textarea"  # a one-line input would turn the newlines into spaces
    _paste(browser, key_field, key)
    browser.find_element(By.ID, "element_ssh_passphrase").send_keys(git_ssh_server.key_passphrase)
    _paste(browser, browser.find_element(By.ID, "element_known_hosts"), git_ssh_server.known_hosts)
    assert key_field.get_attribute("value") == key
    _shot(browser, shots, "1-filled")
    _click(browser, "Save")
    test_button = browser.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
    _shot(browser, shots, "2-saved")

    token = api_server.token()
    stored = requests.get(
        f"{api_server.url}/api/v2/connections/{CONN_ID}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    extra = json.loads(stored["extra"])
    assert extra["ssh_private_key"] == "***"  # hidden from the UI and the API once saved
    assert extra["ssh_passphrase"] == "***" and extra["known_hosts"] == git_ssh_server.known_hosts

    test_button.click()
    deadline = time.monotonic() + 120
    text = ""
    while time.monotonic() < deadline:
        text = browser.find_element(By.TAG_NAME, "body").text
        if "git ls-remote" in text or "Failed" in text:
            break
        time.sleep(0.2)
    _shot(browser, shots, "3-tested")
    if "git ls-remote" not in text:
        raise TimeoutException(f"no test result shown; the page reads: {text[-600:]}")
    assert f"git ls-remote {url}: HEAD at " in text

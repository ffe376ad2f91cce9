"""Issue 22's "must show": the Flux view in a real headless Chromium against a live API server.

A DAG reconciles two Kustomizations (``apps`` dependsOn ``infra``) and analyses a Canary under
the real scheduler and triggerer, twice: the second run rolls a new image out step by step and
records it in MLflow. Then a browser, on an API server of the same Airflow with an admin and a
viewer: logged out, the view sends it to the login page; logged in, the view lists the objects
with their Ready state and the run that reconciled them, the dependsOn graph, and the canary's
timeline chart; the admin's "Reconcile now" stamps ``requestedAt`` and triggers the DAG, whose run
then records the request as handled; the viewer sees the same page without the buttons and is
refused the action. Screenshots go to ``docs/screenshots/`` (linked in the README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from mlflow.tracking import MlflowClient
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.links.flux_view import VIEW_PATH
from flux_devkit.services.airflow_api import ADMIN, AirflowApiServer, start_airflow_api_server
from flux_devkit.services.airflow_scheduler import AirflowScheduler
from flux_devkit.services.mlflow_server import MlflowServer
from tests.browser import headless_chromium
from tests.canary.fixtures import REVISION, ScheduledRollout
from tests.services.connections import kubernetes_conn

pytestmark = pytest.mark.timeout(1200)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWER = "viewer"


@pytest.fixture(scope="module")
def ui(
    airflow_scheduler: AirflowScheduler, sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowApiServer]:
    """An API server of the same Airflow with two users: the admin and a viewer."""
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin,{VIEWER}:viewer",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kubernetes_conn(sandbox)),
    }
    server = start_airflow_api_server(
        airflow_scheduler.airflow_home, tmp_path_factory.mktemp("view-api"), env=env
    )
    yield server
    server.stop()


def _password(server: AirflowApiServer, user: str) -> str:
    """The viewer's password is the one the simple auth manager generated into the passwords file."""
    return str(json.loads(server.passwords_file.read_text())[user])


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with headless_chromium(1400, 1800) as session:
        yield session


def _shot(browser: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"flux-view-{name}.png"))


def _log_in(browser: WebDriver, server: AirflowApiServer, user: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{server.url}{VIEW_PATH}/")
    WebDriverWait(browser, 60).until(lambda b: "/auth/login" in b.current_url)
    browser.find_element(By.NAME, "username").send_keys(user)
    password = browser.find_element(By.NAME, "password")
    password.send_keys(_password(server, user))
    password.send_keys(Keys.ENTER)
    WebDriverWait(browser, 60).until(lambda b: "/auth/login" not in b.current_url)


def _row(browser: WebDriver, ref: str) -> Any:
    return WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, f"tr.object[data-ref='{ref}']"))
    )


def _run_ids(airflow: AirflowScheduler, dag_id: str) -> list[str]:
    return [r["dag_run_id"] for r in airflow.api.api("GET", f"/dags/{dag_id}/dagRuns").json()["dag_runs"]]


def _detail(browser: WebDriver, ref: str) -> str:
    _row(browser, ref).click()
    WebDriverWait(browser, 60).until(lambda b: ref in b.find_element(By.ID, "detail").text)
    return str(browser.find_element(By.ID, "detail").text)


def test_logged_out_the_view_sends_to_the_login_and_its_api_refuses(ui: AirflowApiServer, browser: WebDriver):
    browser.delete_all_cookies()
    browser.get(f"{ui.url}{VIEW_PATH}/?cluster=kubernetes_default")
    WebDriverWait(browser, 60).until(lambda b: "/auth/login" in b.current_url)
    assert "next=" in browser.current_url and "flux-view" in browser.current_url
    _shot(browser, "1-login")
    assert requests.get(f"{ui.url}{VIEW_PATH}/api/objects", timeout=30).status_code == 401


def test_the_admin_sees_objects_graph_canary_chart_and_reconciles_now(
    scheduled_rollout: ScheduledRollout,
    ui: AirflowApiServer,
    browser: WebDriver,
    airflow_scheduler: AirflowScheduler,
    canary_cluster: Cluster,
    mlflow_server: MlflowServer,
):
    rollout = scheduled_rollout
    ns, dag_id, run_id = rollout.namespace, rollout.dag_id, rollout.promoted
    _log_in(browser, ui, ADMIN)
    assert browser.current_url.startswith(f"{ui.url}{VIEW_PATH}/")  # back where the login began
    apps = _row(browser, f"Kustomization/{ns}/apps")
    assert "True" in apps.text and REVISION in apps.text and f"{dag_id} / {run_id}" in apps.text
    link = apps.find_element(By.LINK_TEXT, f"{dag_id} / {run_id}")
    assert unquote(link.get_attribute("href")).endswith(f"/dags/{dag_id}/runs/{run_id}/tasks/apps")
    graph = browser.find_element(By.CSS_SELECTOR, "svg.depends-on")
    assert {n.get_attribute("data-ref") for n in graph.find_elements(By.CSS_SELECTOR, "g.node")} >= {
        f"Kustomization/{ns}/infra",
        f"Kustomization/{ns}/apps",
    }
    _shot(browser, "2-objects")

    text = _detail(browser, f"Kustomization/{ns}/apps")
    assert f"ConfigMap/{ns}/app-settings" in text  # the inventory
    assert "Reconcile now" in text and "Suspend" in text

    text = _detail(browser, f"Canary/{ns}/podinfo")
    assert "phase Succeeded" in text and "weight 10" in text and "weight 20" in text
    chart = browser.find_element(By.CSS_SELECTOR, "#detail svg.canary-timeline")
    assert len(chart.find_elements(By.CSS_SELECTOR, "polyline.metric")) == 2  # success rate and latency
    limits = chart.find_elements(By.CSS_SELECTOR, "line.threshold")
    assert sorted(line.get_attribute("textContent") for line in limits) == [
        "request-duration max 500",
        "request-success-rate min 99",
    ]
    mlflow_link = browser.find_element(By.PARTIAL_LINK_TEXT, mlflow_server.tracking_uri)
    browser.execute_script("arguments[0].scrollIntoView()", chart)
    _shot(browser, "3-canary")

    # the MLflow run of the analysis: one step per tick, the weight among the metrics, and the report
    mlflow_run = mlflow_link.get_attribute("href").rsplit("/", 1)[-1]
    client = MlflowClient(mlflow_server.tracking_uri)
    weights = [
        m.value for m in sorted(client.get_metric_history(mlflow_run, "canary_weight"), key=lambda m: m.step)
    ]
    assert 10 in weights and 20 in weights
    assert "canary-report.html" in {a.path for a in client.list_artifacts(mlflow_run)}

    # Reconcile now: requestedAt stamped, the DAG triggered, its run records the request as handled
    _detail(browser, f"Kustomization/{ns}/apps")
    before = set(_run_ids(airflow_scheduler, dag_id))
    browser.find_element(By.XPATH, "//button[normalize-space()='Reconcile now']").click()
    WebDriverWait(browser, 60).until(lambda b: "reconcile requested" in b.find_element(By.ID, "notice").text)
    _shot(browser, "4-reconcile-now")
    key = ObjectKey("kustomize.toolkit.fluxcd.io/v1", "Kustomization", ns, "apps")
    requested = canary_cluster.get(key)["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    (new_run,) = set(_run_ids(airflow_scheduler, dag_id)) - before
    assert airflow_scheduler.wait_for_run(dag_id, new_run, timeout=600) == "success"
    assert canary_cluster.get(key)["status"]["lastHandledReconcileAt"] == requested


def test_a_viewer_reads_the_view_without_buttons_and_is_refused_actions(
    scheduled_rollout: ScheduledRollout, ui: AirflowApiServer, browser: WebDriver
):
    ns = scheduled_rollout.namespace
    _log_in(browser, ui, VIEWER)
    text = _detail(browser, f"Kustomization/{ns}/apps")
    assert "Ready" in browser.page_source and "Reconcile now" not in text
    _shot(browser, "5-viewer")
    cookie = browser.get_cookie("_token")
    assert cookie is not None
    body = {
        "cluster": "kubernetes_default",
        "kind": "Kustomization",
        "namespace": ns,
        "name": "apps",
        "action": "suspend",
    }
    assert _action_status(ui, cookie["value"], body) == 403

    # the view in Airflow's own nav: "Flux" opens it embedded in the UI
    browser.get(f"{ui.url}/plugin/flux")
    frame = WebDriverWait(browser, 60).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, f"iframe[src*='{VIEW_PATH}']"))
    )
    browser.switch_to.frame(frame)
    _row(browser, f"Kustomization/{ns}/apps")
    browser.switch_to.default_content()
    _shot(browser, "6-in-the-airflow-nav")


def _action_status(ui: AirflowApiServer, token: str, body: dict[str, str]) -> int:
    """The action as the browser would post it, with the user's login cookie."""
    response = requests.post(
        f"{ui.url}{VIEW_PATH}/api/action", json=body, cookies={"_token": token}, timeout=30
    )
    return response.status_code

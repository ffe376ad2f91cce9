// The Flux view's page: reads the view's JSON API (same origin, Airflow's login cookie) and draws
// tables; the charts come as SVG from the server. Every value is inserted as text, never as HTML,
// except those SVGs, which the server builds with every value escaped.
"use strict";

const api = (path, options) =>
  fetch(`api/${path}`, { credentials: "same-origin", ...options }).then(async (response) => {
    if (response.status === 401) {
      window.location.reload(); // the page itself redirects to the login
      throw new Error("logged out");
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "onclick") node.addEventListener("click", value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(markup) {
  const holder = el("div", { class: "chart" });
  if (markup) holder.innerHTML = markup; // server-built, every value escaped
  return holder;
}

const runLink = (run) =>
  run ? el("a", { href: run.url, target: "_top", title: `${run.task_id} at ${run.when}` }, `${run.dag_id} / ${run.run_id}`) : "—";

const ready = (value) => el("span", { class: `ready-${value}` }, value);

function table(headers, rows) {
  return el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))), rows);
}

function objectRow(cluster, object) {
  return el(
    "tr",
    { class: "object", "data-ref": object.ref, onclick: () => openObject(cluster, object.ref) },
    el("td", {}, object.kind),
    el("td", {}, `${object.namespace}/${object.name}`, object.suspended ? el("span", { class: "suspended" }, " suspended") : null),
    el("td", {}, ready(object.ready)),
    el("td", {}, object.reason),
    el("td", { class: "message" }, object.message),
    el("td", {}, object.revision),
    el("td", {}, object.last_reconciled),
    el("td", {}, runLink(object.last_run)),
  );
}

async function loadClusters() {
  const data = await api("objects");
  document.getElementById("user").textContent = `signed in as ${data.user}`;
  const main = document.getElementById("clusters");
  main.replaceChildren();
  for (const cluster of data.clusters) {
    const section = el("section", { class: "cluster", "data-cluster": cluster.id }, el("h2", {}, `Cluster connection: ${cluster.id}`));
    if (cluster.error) section.append(el("p", { class: "error" }, cluster.error));
    for (const [group, kinds] of Object.entries(data.groups)) {
      const objects = cluster.objects.filter((o) => kinds.includes(o.kind));
      if (!objects.length) continue;
      section.append(
        el("h3", {}, group),
        table(["Kind", "Namespace/Name", "Ready", "Reason", "Message", "Revision", "Last reconcile", "Last DAG run"],
          objects.map((o) => objectRow(cluster.id, o))),
      );
    }
    if (cluster.graph) {
      const graph = svg(cluster.graph);
      graph.querySelectorAll("g.node").forEach((node) =>
        node.addEventListener("click", () => openObject(cluster.id, node.dataset.ref)));
      section.append(el("h3", {}, "dependsOn"), graph);
    }
    if (!cluster.error && !cluster.objects.length) section.append(el("p", {}, "No Flux objects in this cluster."));
    main.append(section);
  }
}

async function act(cluster, detail, action) {
  const [kind, namespace, name] = detail.ref.split("/");
  const notice = document.getElementById("notice");
  try {
    const result = await api("action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ cluster, kind, namespace, name, action }),
    });
    notice.textContent = result.message;
  } catch (err) {
    notice.textContent = `${action} failed: ${err.message}`;
  }
  await Promise.all([loadClusters(), openObject(cluster, detail.ref)]);
}

async function openObject(cluster, ref) {
  const [kind, namespace, ...rest] = ref.split("/");
  const name = rest.join("/");
  const query = new URLSearchParams({ cluster, kind, namespace, name });
  const aside = document.getElementById("detail");
  aside.hidden = false;
  history.replaceState(null, "", `?${new URLSearchParams({ cluster, object: ref })}`);
  let d;
  try {
    d = await api(`object?${query}`);
  } catch (err) {
    aside.replaceChildren(el("h2", {}, ref), el("p", { class: "error" }, err.message));
    return;
  }
  const s = d.summary;
  const actions = el("span", { class: "actions" });
  if (d.can_act) {
    actions.append(
      el("button", { type: "button", onclick: () => act(cluster, d, "reconcile") }, "Reconcile now"),
      s.suspended
        ? el("button", { type: "button", onclick: () => act(cluster, d, "resume") }, "Resume")
        : el("button", { type: "button", onclick: () => act(cluster, d, "suspend") }, "Suspend"),
    );
  }
  const parts = [
    el("h2", {}, d.ref, ready(s.ready), actions),
    el("dl", {},
      el("dt", {}, "Reason"), el("dd", {}, s.reason || "—"),
      el("dt", {}, "Message"), el("dd", {}, s.message || "—"),
      el("dt", {}, "Revision"), el("dd", {}, s.revision || "—"),
      el("dt", {}, "Last reconcile"), el("dd", {}, s.last_reconciled || "—"),
      el("dt", {}, "Reconcile requested"), el("dd", {}, d.requested_at ? `${d.requested_at} (handled: ${d.last_handled_reconcile_at || "not yet"})` : "—"),
      el("dt", {}, "Suspended"), el("dd", {}, s.suspended ? "yes" : "no"),
      el("dt", {}, "Depends on"), el("dd", {}, s.depends_on.join(", ") || "—"),
      el("dt", {}, "Last DAG run"), el("dd", {}, runLink(d.last_run)),
      el("dt", {}, "MLflow run"), el("dd", {}, d.mlflow_url ? el("a", { href: d.mlflow_url, target: "_blank", rel: "noopener" }, d.mlflow_url) : "—"),
      s.in_config_map ? [el("dt", {}, "Status kept in"), el("dd", {}, "a flux-status ConfigMap (the cluster does not serve this kind)")] : null,
    ),
  ];
  if (d.canary) {
    const c = d.canary;
    parts.push(
      el("h3", {}, "Canary"),
      el("p", {}, `phase ${c.phase || "—"}, weight ${c.weight}%, failed checks ${c.failed_checks}, iterations ${c.iterations}`),
    );
    if (d.canary_steps.length) {
      parts.push(
        el("h3", {}, "Timeline of the last analysis"),
        svg(d.canary_chart),
        table(["Tick", "Phase", "Weight", "Failed checks", "Metrics", "Decision"],
          d.canary_steps.map((st) => el("tr", {},
            el("td", {}, st.tick), el("td", {}, st.phase), el("td", {}, `${st.weight}%`), el("td", {}, st.failed_checks),
            el("td", {}, Object.entries(st.metrics).map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(", ")),
            el("td", {}, st.decision)))),
      );
    }
  }
  if (d.changes.length) {
    parts.push(el("h3", {}, "Last change set"),
      table(["Object", "Action", "Drifted fields"],
        d.changes.map((c) => el("tr", {}, el("td", {}, c.object), el("td", {}, c.action), el("td", {}, (c.fields || []).join(", "))))));
  }
  if (d.inventory.length) {
    parts.push(el("h3", {}, `Inventory (${d.inventory.length})`),
      el("ul", { class: "inventory" }, d.inventory.map((ref) => el("li", {}, ref))));
  }
  if (d.history.length) {
    parts.push(el("h3", {}, "History"),
      table(["When", "Revision", "Status", "Detail"],
        d.history.map((h) => el("tr", {}, el("td", {}, h.when), el("td", {}, h.revision), el("td", {}, h.status), el("td", {}, h.detail)))));
  }
  aside.replaceChildren(...parts);
  aside.scrollIntoView({ behavior: "smooth" });
}

async function start() {
  const notice = document.getElementById("notice");
  try {
    await loadClusters();
    const params = new URLSearchParams(window.location.search);
    if (params.get("cluster") && params.get("object")) await openObject(params.get("cluster"), params.get("object"));
  } catch (err) {
    notice.textContent = `cannot load the Flux view: ${err.message}`;
  }
}

document.getElementById("refresh").addEventListener("click", () => start());
start();

// The Importer's read side: projects under --dir and what detection finds in each. Requests
// carry the session cookie (same origin); nothing is built from HTML strings.
"use strict";

async function getJson(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "-" : String(text);
  row.appendChild(td);
}

function say(id, text, isError) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
}

async function showProject(name) {
  const body = document.querySelector("#components tbody");
  body.replaceChildren();
  say("detect-status", "Detecting…");
  try {
    const app = await getJson("/api/v1/projects/" + encodeURIComponent(name) + "/detect");
    for (const c of app.components) {
      const row = document.createElement("tr");
      cell(row, c.name);
      cell(row, c.path);
      cell(row, c.language);
      cell(row, c.framework);
      cell(row, c.port);
      cell(row, c.health);
      const spec = document.createElement("td");
      if (c.openapi && c.openapi.file) {
        const a = document.createElement("a");
        a.href = "/api/v1/projects/" + encodeURIComponent(name) + "/components/" + encodeURIComponent(c.name) + "/spec";
        a.setAttribute("download", "");
        a.textContent = "Download " + c.openapi.file;
        spec.appendChild(a);
      } else {
        spec.textContent = c.openapi ? c.openapi.runtime + " (at run time)" : "-";
      }
      row.appendChild(spec);
      body.appendChild(row);
    }
    say("detect-status", app.components.length + " component(s)");
  } catch (e) {
    say("detect-status", e.message, true);
  }
}

async function start() {
  const select = document.getElementById("project");
  try {
    const { projects } = await getJson("/api/v1/projects");
    for (const p of projects) {
      const option = document.createElement("option");
      option.value = p.name;
      option.textContent = p.name === "." ? "(this directory)" : p.name;
      select.appendChild(option);
    }
    say("projects-status", projects.length ? projects.length + " project(s)" : "No project found under --dir");
    select.addEventListener("change", () => showProject(select.value));
    if (projects.length) showProject(projects[0].name);
  } catch (e) {
    say("projects-status", e.message, true);
  }
}

start();

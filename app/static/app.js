// The operators' page: every call goes to the JSON API, with X-API-Key when one is set.
"use strict";

const $ = (id) => document.getElementById(id);
let apiKey = localStorage.getItem("facerec-api-key") || "";
const thumbCache = new Map();
const peopleByName = new Map();   // lower-cased name -> person id, for "this is…" and naming visitors

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, apiKey ? { "X-API-Key": apiKey } : {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    $("key-form").hidden = false;
    throw new Error("this server needs an API key");
  }
  return response;
}

async function json(path, options) {
  const response = await api(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

// Thumbnails need the key too, so they are fetched and shown as blob URLs.
async function thumbnail(path) {
  if (!thumbCache.has(path)) {
    const response = await api(path);
    thumbCache.set(path, response.ok ? URL.createObjectURL(await response.blob()) : "");
  }
  return thumbCache.get(path);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "meta";
}

// --- recent recognitions ---------------------------------------------------------------
async function refreshEvents() {
  const { events } = await json("/events?count=50");
  // One row per visit: the faces of one track (over its frames) together, shown by its best face
  // (the highest quality; the first named one when qualities tie); faces without a track stand alone.
  const visits = new Map();
  for (const event of events) {
    event.faces.forEach((face, index) => {
      const key = face.track_id || `${event.event_id}/${index}`;
      const seen = { event, face, index };
      const visit = visits.get(key);
      if (!visit) {
        visits.set(key, { best: seen, frames: 1, last: event.time, named: face.name ? seen : null });
        return;
      }
      visit.frames += 1;
      if ((face.quality || 0) > (visit.best.face.quality || 0)) visit.best = seen;
      if (face.name && !visit.named) visit.named = seen;
    });
  }
  const items = [];
  for (const visit of visits.values()) {
    const { event, face, index } = visit.best;
    const named = visit.named ? visit.named.face : face;
    const when = new Date(visit.last * 1000).toLocaleTimeString();
    const img = el("img", { class: "thumb", alt: "face" });
    thumbnail(`/events/thumbnails/${face.thumbnail}`).then((url) => { img.src = url; });
    const label = named.name
      ? el("span", { class: "known event-name" }, named.name)
      : el("span", { class: "unknown event-name" }, "unknown");
    const visitor = face.visitor_id ? el("span", { class: "visitor-tag" }, `visitor ${face.visitor_id.slice(0, 6)}`) : "";
    const distance = face.distance === null ? "" : `distance ${face.distance.toFixed(3)}`;
    const frames = el("span", { class: "visit-frames" }, visit.frames > 1 ? `visit · ${visit.frames} frames` : "");
    const actions = el("span", { class: "actions" });
    const target = { event_id: event.event_id, face_index: index };
    if (named.person_id) {
      const own = visit.named || visit.best;
      actions.append(el("button", { class: "not-person", title: `this face is not ${named.name}`,
        onclick: () => correct({ not_person_id: named.person_id, event_id: own.event.event_id,
          face_index: own.index }) }, `not ${named.name}`));
    }
    actions.append(el("button", { class: "this-is", title: "say who this is",
      onclick: () => thisIs(target) }, "this is…"));
    items.push(el("li", { class: "visit" }, img, label, visitor, frames,
      el("span", { class: "meta" }, `${distance} · camera ${event.camera_id || "-"} · ${when}`), actions));
  }
  $("events").replaceChildren(...items);
}

// A name typed for a face or a visitor: an enrolled person's (any case) or a new person.
function who(name) {
  const id = peopleByName.get(name.trim().toLowerCase());
  return id ? { person_id: id } : { name: name.trim() };
}

async function thisIs(target) {
  const name = prompt("Who is this? An enrolled person's name, or a new name");
  if (name && name.trim()) await correct(Object.assign(who(name), target));
}

async function correct(body) {
  await change("/corrections", sending("POST", body), [refreshPeople, refreshEvents], (result) =>
    result.correction === "not_person"
      ? `Noted: not ${result.name} (${result.negatives} negative example(s)).`
      : `Added to ${result.name}.`);
}

// --- unknown visitors ------------------------------------------------------------------
async function refreshVisitors() {
  const { visitors, count } = await json("/visitors?count=20");
  $("visitors-count").textContent = `(${count})`;
  $("visitors").replaceChildren(...visitors.map((visitor) => {
    const faces = el("span", { class: "faces" });
    for (const sighting of visitor.thumbnails) {
      const img = el("img", { class: "thumb", alt: "visitor" });
      thumbnail(`/visitors/${visitor.visitor_id}/sightings/${sighting}/thumbnail`).then((url) => { img.src = url; });
      faces.append(img);
    }
    const seen = new Date(visitor.last_seen * 1000).toLocaleString();
    return el("li", { "data-visitor": visitor.visitor_id }, faces,
      el("strong", { class: "visitor-name" }, `visitor ${visitor.visitor_id.slice(0, 6)}`),
      el("span", { class: "meta" },
        `${visitor.sightings} sighting(s) · camera ${visitor.cameras.join(", ") || "-"} · last seen ${seen}`),
      el("button", { class: "name-visitor", onclick: () => nameVisitor(visitor) }, "name"),
      el("button", { class: "forget-visitor", onclick: () => {
        if (confirm("Forget this visitor and all its sightings?")) change(`/visitors/${visitor.visitor_id}`, { method: "DELETE" }, [refreshVisitors, refreshPeople]);
      } }, "forget"));
  }));
}

async function nameVisitor(visitor) {
  const name = prompt("Who is this visitor? An enrolled person's name, or a new name");
  if (name && name.trim()) {
    await change(`/visitors/${visitor.visitor_id}/name`, sending("POST", who(name)), [refreshVisitors, refreshPeople]);
  }
}

// --- people ----------------------------------------------------------------------------
async function refreshPeople() {
  const { people, count } = await json("/people");
  $("people-count").textContent = `(${count})`;
  peopleByName.clear();
  for (const person of people) peopleByName.set(person.name.toLowerCase(), person.person_id);
  const items = await Promise.all(people.map(async (person) => {
    const detail = await json(`/people/${person.person_id}`);
    const faces = el("span", { class: "faces" });
    for (const faceId of detail.faces) {
      const img = el("img", { class: "thumb", alt: person.name });
      thumbnail(`/people/${person.person_id}/faces/${faceId}/thumbnail`).then((url) => { img.src = url; });
      faces.append(el("span", { class: "face" }, img, el("button", {
        title: "delete this face", class: "delete-face",
        onclick: () => change(`/people/${person.person_id}/faces/${faceId}`, { method: "DELETE" }),
      }, "×")));
    }
    return el("li", { "data-person": person.person_id },
      el("strong", { class: "person-name" }, person.name),
      el("span", { class: "meta" }, `${person.face_count} faces`), faces,
      el("button", { class: "rename", onclick: () => rename(person) }, "rename"),
      el("button", { class: "delete-person", onclick: () => {
        if (confirm(`Delete ${person.name} and all their faces?`)) change(`/people/${person.person_id}`, { method: "DELETE" });
      } }, "delete"));
  }));
  $("people").replaceChildren(...items);
}

async function rename(person) {
  const name = prompt(`New name for ${person.name}`, person.name);
  if (name && name.trim() && name !== person.name) {
    await change(`/people/${person.person_id}`, sending("PATCH", { name: name.trim() }));
  }
}

// A JSON body to send with a POST or PATCH.
function sending(method, body) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

// A change to the gallery: on success, refresh the sections it touched (and say what happened
// when `told` is given); on failure, show the server's message.
async function change(path, options, sections = [refreshPeople], told = null) {
  try {
    const result = await json(path, options);
    if (told) status(told(result));
    await Promise.all(sections.map((refresh) => refresh()));
  } catch (error) {
    status(error.message, true);
  }
}

// --- enroll ----------------------------------------------------------------------------
$("enroll-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData();
  form.append("name", $("enroll-name").value);
  for (const file of $("enroll-files").files) form.append("image", file);
  const result = $("enroll-result");
  try {
    const body = await json("/enroll", { method: "POST", body: form });
    result.className = "";
    result.textContent = `Enrolled ${body.name}: ${body.faces.length} face(s) found.`;
    $("enroll-form").reset();
    await refreshPeople();
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
});

// --- recognize -------------------------------------------------------------------------
async function recognize(file) {
  const result = $("recognize-result");
  const form = new FormData();
  form.append("image", file);
  form.append("camera_id", "web page");
  try {
    const body = await json("/recognize", { method: "POST", body: form });
    const names = body.faces.map((f) => (f.match ? f.match.name : "unknown"));
    result.className = "";
    result.textContent = body.faces.length ? `${body.faces.length} face(s): ${names.join(", ")}` : "No face found.";
    await draw(file, body.faces);
    refreshEvents();
    refreshVisitors();
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
}

async function draw(file, faces) {
  const image = await createImageBitmap(file);
  const canvas = $("recognize-canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const line = Math.max(2, image.width / 300);
  ctx.lineWidth = line;
  ctx.font = `${Math.max(12, image.width / 40)}px sans-serif`;
  for (const face of faces) {
    const { x1, y1, x2, y2 } = face.box;
    const label = face.match ? `${face.match.name} (${face.match.distance.toFixed(2)})` : "unknown";
    ctx.strokeStyle = ctx.fillStyle = face.match ? "#10b981" : "#f59e0b";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillText(label, x1, Math.max(12, y1 - line * 2));
  }
  canvas.hidden = false;
}

$("recognize-file").addEventListener("change", (event) => {
  if (event.target.files[0]) recognize(event.target.files[0]);
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) recognize(event.dataTransfer.files[0]);
});

// --- start -----------------------------------------------------------------------------
$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = $("api-key").value.trim();
  localStorage.setItem("facerec-api-key", apiKey);
  $("key-form").hidden = true;
  thumbCache.clear();
  refresh();
});

async function refresh() {
  try {
    await Promise.all([refreshEvents(), refreshPeople(), refreshVisitors()]);
    status(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    status(error.message, true);
  }
}

refresh();
// New recognitions and visitors arrive on their own; the gallery is read again after each change made here.
setInterval(() => {
  if ($("key-form").hidden) Promise.all([refreshEvents(), refreshVisitors()]).catch((error) => status(error.message, true));
}, 2000);

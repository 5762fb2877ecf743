// The public complaint form: category, description, the place (picked on the city's own map, or coordinates typed
// from a phone map with their datum, or an address), photos, anonymity or a contact; POST /api/public/complaints.
// The answer's number and query code are shown once, as the server sent them.
import { BOOT, S, clearErrors, csrfHeaders, readProblem, showProblem } from "./common.js";

const form = document.getElementById("complaint-form");
const $ = (id) => document.getElementById(id);
// One key per complaint being written: a retry (a lost answer, a double click) files it once.
let idempotencyKey = crypto.randomUUID();
let marker = null;

function pickMap() {
  if (typeof ol === "undefined") return;
  const source = new ol.source.Vector();
  const map = new ol.Map({
    target: "pick-map",
    layers: [new ol.layer.Tile({ source: new ol.source.XYZ({ url: BOOT.basemap, maxZoom: 19 }) }),
      new ol.layer.Vector({ source })],
    view: new ol.View({ center: ol.proj.fromLonLat(BOOT.center), zoom: 11 }),
    controls: ol.control.defaults.defaults({ attribution: false, rotate: false }),
  });
  map.on("click", (event) => {
    const [lon, lat] = ol.proj.toLonLat(event.coordinate);
    $("lon").value = lon.toFixed(6);
    $("lat").value = lat.toFixed(6);
    $("datum").value = "wgs84";   // this map's own datum: known, not guessed
    if (!marker) { marker = new ol.Feature(); source.addFeature(marker); }
    marker.setGeometry(new ol.geom.Point(event.coordinate));
  });
  $("clear-point").addEventListener("click", () => {
    $("lon").value = ""; $("lat").value = ""; $("datum").value = "";
    if (marker) { source.removeFeature(marker); marker = null; }
  });
}

function complaint() {
  const body = { category: $("category").value || null, description: $("description").value };
  for (const name of ["address", "place_name"]) if ($(name).value.trim()) body[name] = $(name).value;
  const [lon, lat, datum] = [$("lon").value.trim(), $("lat").value.trim(), $("datum").value];
  if (lon || lat || datum) {
    body.location = { lon: lon === "" ? null : Number(lon), lat: lat === "" ? null : Number(lat) };
    if (datum) body.location.datum = datum;
    for (const axis of ["lon", "lat"]) if (Number.isNaN(body.location[axis])) body.location[axis] = $(axis).value;
  }
  body.anonymous = form.querySelector('input[name="anonymous"]:checked').value === "true";
  if (!body.anonymous) {
    body.contact = {};
    if ($("contact_name").value.trim()) body.contact.name = $("contact_name").value;
    if ($("contact_phone").value.trim()) body.contact.phone = $("contact_phone").value;
  }
  return body;
}

form.addEventListener("change", (event) => {
  if (event.target.name === "anonymous") $("contact-box").hidden = event.target.value === "true";
});
form.addEventListener("input", () => { idempotencyKey = crypto.randomUUID(); });  // an edited complaint is another one

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const data = new FormData();
  data.append("complaint", JSON.stringify(complaint()));
  for (const file of $("photos").files) data.append("photos", file, file.name);
  const button = $("submit");
  button.disabled = true;
  button.textContent = S.submitting;
  try {
    const response = await fetch(`${BOOT.root}api/public/complaints?lang=${BOOT.lang}`, {
      method: "POST", body: data,
      headers: { "Idempotency-Key": idempotencyKey, "Accept-Language": BOOT.lang, ...csrfHeaders() },
    });
    const answer = await readProblem(response);
    if (!response.ok) return showProblem(form, response, answer);
    $("receipt-number").textContent = answer.number;
    $("receipt-code").textContent = answer.query_code;
    const link = $("status-link");
    link.href = `${BOOT.root}public/complaints/status?lang=${BOOT.lang}&number=${encodeURIComponent(answer.number)}`;
    form.hidden = true;
    $("receipt").hidden = false;
    $("receipt").scrollIntoView?.();
  } catch {
    showProblem(form, { status: 0, headers: new Headers() }, null);
  } finally {
    button.disabled = false;
    button.textContent = S.submit;
  }
});

pickMap();
window.onemap = { page: "complaint-file", ready: true };   // (what the browser tests wait for)

// Permalinks: view centre (lon/lat), zoom, visible layers, theme, district filter and CRS in the URL hash,
// e.g. #c=119.01,32.00&z=12.5&l=basemap,enterprises&m=grade&d=329903&crs=4490. replaceState: panning does not
// fill the browser history.

export function parseHash(hash = location.hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const out = { center: null, zoom: null, layers: null, mode: "risk", district: null, crs: p.get("crs") };
  const c = (p.get("c") || "").split(",").map(Number);
  const z = Number(p.get("z"));
  if (c.length === 2 && c.every(Number.isFinite) && Math.abs(c[0]) <= 180 && Math.abs(c[1]) <= 90
      && p.get("z") !== null && Number.isFinite(z)) {
    out.center = c;
    out.zoom = Math.min(Math.max(z, 0), 20);
  }
  if (p.has("l")) out.layers = new Set(p.get("l").split(",").filter(Boolean));
  if (p.get("m") === "grade") out.mode = "grade";
  if (/^\d{6}$/.test(p.get("d") || "")) out.district = p.get("d");
  return out;
}

export function buildHash({ center, zoom, layers, mode, district, crs }) {
  const parts = [`c=${center[0].toFixed(5)},${center[1].toFixed(5)}`, `z=${zoom.toFixed(2)}`,
    `l=${[...layers].join(",")}`];
  if (mode && mode !== "risk") parts.push(`m=${mode}`);
  if (district) parts.push(`d=${district}`);
  if (crs === "EPSG:4490") parts.push("crs=4490");
  return `#${parts.join("&")}`;
}

export function writeHash(state) {
  const hash = buildHash(state);
  if (hash !== location.hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  return hash;
}

// Styles from the neutral style specs (compiled server-side by styles/openlayers.py): OpenLayers flat-style rules,
// with the specs' zoom limits applied per zoom level, plus the console's two themes and the district filter.

import { catalogLayers } from "./boot.js";
import { mercatorZoom } from "./projection.js";

const ol = window.ol;
const { rulesToStyleFunction, flatStylesToStyleFunction } = ol.render.canvas.style;

/** Shared, mutable view state the style functions read (set by main.js; call layer.changed() after). */
export const styleState = { mode: "risk", district: null, grades: null };

function inRange(item, zoom) {
  return (item.minZoom == null || zoom >= item.minZoom) && (item.maxZoom == null || zoom <= item.maxZoom);
}

function rulesAtZoom(spec, zoom) {
  const label = spec.label && inRange(spec.label, zoom) ? spec.label.style : null;
  return spec.rules.filter((rule) => inRange(rule, zoom)).map((rule) => {
    const styles = [];
    if (rule.casing) styles.push(rule.casing);
    styles.push(rule.style);
    if (label) styles.push(label);
    const out = { style: styles };
    if (rule.filter) out.filter = rule.filter;
    else out.else = true;
    return out;
  });
}

/** Style function of a vector layer: spec rules by zoom, then the theme, then the district filter. */
export function layerStyle(entry, projection) {
  const byZoom = new Map();
  const specFunction = (zoom) => {
    if (!byZoom.has(zoom)) byZoom.set(zoom, rulesToStyleFunction(rulesAtZoom(entry.style, zoom)));
    return byZoom.get(zoom);
  };
  const filtered = entry.fields.some((f) => f.name === "district_code");
  return (feature, resolution) => {
    if (filtered && styleState.district && feature.get("district_code") !== styleState.district) return undefined;
    if (entry.id === "enterprises" && styleState.mode === "grade") return gradeStyle(feature);
    const zoom = Math.floor(mercatorZoom(resolution, projection) + 1e-6);
    return specFunction(zoom)(feature, resolution);
  };
}

// -- hazard-source grade theme: each enterprise coloured by its most dangerous hazard source -------------

let gradeStyles = null;

function buildGradeStyles() {
  const hazard = catalogLayers().find((l) => l.id === "hazard_sources");
  const styles = {};
  for (const rule of hazard.style.rules) {
    const grade = Array.isArray(rule.filter) ? rule.filter[2] : null;
    if (grade == null) continue;
    styles[grade] = new ol.style.Style({
      zIndex: 10 - grade,
      image: new ol.style.Circle({
        radius: 9 - grade,
        fill: new ol.style.Fill({ color: rule.style["shape-fill-color"] }),
        stroke: new ol.style.Stroke({ color: "#ffffff", width: 1.5 }),
      }),
    });
  }
  styles.none = new ol.style.Style({
    zIndex: 0,
    image: new ol.style.Circle({ radius: 3, fill: new ol.style.Fill({ color: "rgba(110,120,130,0.55)" }) }),
  });
  return styles;
}

function gradeStyle(feature) {
  gradeStyles ??= buildGradeStyles();
  const grade = styleState.grades ? styleState.grades[feature.get("uscc")] : undefined;
  return gradeStyles[grade] ?? gradeStyles.none;
}

/** Legend entries of the grade theme, in the shape legendCanvas() draws. */
export function gradeLegend() {
  const hazard = catalogLayers().find((l) => l.id === "hazard_sources");
  const items = hazard.style.legend.map((item) => ({
    title: item.title, geometry: "point",
    style: { "circle-radius": 7, "circle-fill-color": item.style["shape-fill-color"],
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 },
  }));
  items.push({ title: { "zh-CN": "无重大危险源", en: "No major hazard source" }, geometry: "point",
    style: { "circle-radius": 3, "circle-fill-color": "rgba(110,120,130,0.55)" } });
  return items;
}

// -- legend swatches ------------------------------------------------------------------------------------------

const SWATCH = 22;

function swatchGeometry(kind) {
  const m = SWATCH / 2;
  if (kind === "line") return new ol.geom.LineString([[2, m + 4], [m - 2, m - 4], [SWATCH - 2, m + 2]]);
  if (kind === "polygon") return new ol.geom.Polygon([[[3, 3], [SWATCH - 3, 3], [SWATCH - 3, SWATCH - 3], [3, SWATCH - 3], [3, 3]]]);
  return new ol.geom.Point([m, m]);
}

function drawHatch(ctx, hatch) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(3, 3, SWATCH - 6, SWATCH - 6);
  ctx.clip();
  ctx.strokeStyle = hatch.color;
  ctx.lineWidth = hatch.width;
  const step = Math.max(3, hatch.spacing / 2);
  for (let x = -SWATCH; x < SWATCH * 2; x += step) {
    ctx.beginPath();
    ctx.moveTo(x, SWATCH);
    ctx.lineTo(x + SWATCH, 0);
    ctx.stroke();
  }
  ctx.restore();
}

/** A canvas drawing one legend class exactly as the map does (same flat style, same renderer). */
export function legendCanvas(item) {
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.height = SWATCH * ratio;
  canvas.style.width = canvas.style.height = `${SWATCH}px`;
  canvas.setAttribute("aria-hidden", "true");
  const ctx = canvas.getContext("2d");
  const render = ol.render.toContext(ctx, { size: [SWATCH, SWATCH], pixelRatio: ratio });
  const styles = flatStylesToStyleFunction([item.style])(new ol.Feature(), 1) || [];
  const geometry = swatchGeometry(item.geometry);
  for (const style of [].concat(styles)) {
    render.setStyle(style);
    render.drawGeometry(geometry);
  }
  if (item.hatch) {
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    drawHatch(ctx, item.hatch);
  }
  return canvas;
}

/** Style of the selection highlight and of drawn/buffer geometries. */
export const highlightStyle = new ol.style.Style({
  image: new ol.style.Circle({
    radius: 14, stroke: new ol.style.Stroke({ color: "#00e5ff", width: 3 }),
    fill: new ol.style.Fill({ color: "rgba(0,229,255,0.12)" }),
  }),
  stroke: new ol.style.Stroke({ color: "#00b8d4", width: 3 }),
  fill: new ol.style.Fill({ color: "rgba(0,184,212,0.08)" }),
});

export const sketchStyle = new ol.style.Style({
  image: new ol.style.Circle({ radius: 6, fill: new ol.style.Fill({ color: "#6a1b9a" }),
    stroke: new ol.style.Stroke({ color: "#fff", width: 2 }) }),
  stroke: new ol.style.Stroke({ color: "#6a1b9a", width: 2.5, lineDash: [6, 4] }),
  fill: new ol.style.Fill({ color: "rgba(106,27,154,0.10)" }),
});

export const bufferStyle = new ol.style.Style({
  stroke: new ol.style.Stroke({ color: "#d81b60", width: 2 }),
  fill: new ol.style.Fill({ color: "rgba(216,27,96,0.10)" }),
});

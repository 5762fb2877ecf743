// Statistics panel (ECharts): enterprises by risk colour and by sector per district, hazard sources by grade,
// resources by kind. Colours come from the style specs, so the charts match the map. A click on a district
// filters the map to it.

import { L, api, catalogLayers, enumLabel, t } from "./boot.js";

const echarts = window.echarts;
const FONT = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif';
const SECTORS = ["hazchem", "fireworks", "non_coal_mine", "industry_trade"];
const SECTOR_COLOURS = ["#8e24aa", "#e53935", "#6d4c41", "#00897b"];
const RISKS = ["red", "orange", "yellow", "blue"];

let charts = [];
let hooks = { onDistrict: () => {} };
let container;
let districts = [];

function specColours(layerId, property) {
  const entry = catalogLayers().find((l) => l.id === layerId);
  const out = {};
  if (!entry) return out; // a layer the role may not read is not in its catalogue
  for (const rule of entry.style.rules) {
    if (Array.isArray(rule.filter) && rule.filter[1]?.[1] === property) {
      out[rule.filter[2]] = rule.style["circle-fill-color"] ?? rule.style["shape-fill-color"];
    }
  }
  return out;
}

function base(title) {
  return {
    textStyle: { fontFamily: FONT },
    title: { text: title, left: 8, top: 4, textStyle: { fontSize: 13, fontFamily: FONT } },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 12, top: 74, bottom: 6, containLabel: true },
    legend: { top: 24, left: 8, itemWidth: 10, itemHeight: 10, textStyle: { fontSize: 11 } },
    animation: false,
  };
}

function districtAxis() {
  return { type: "category", data: districts.map((d) => d.name.replace(/^示范市/, "")), axisLabel: { fontSize: 10, interval: 0 } };
}

/** A chart of figures the role may not see (the API sends null): its title and a dash, never zeros. */
function notShown(title) {
  return { ...base(title), legend: { show: false }, xAxis: { show: false }, yAxis: { show: false }, series: [],
    graphic: [{ type: "text", left: "center", top: "middle", style: { text: "—", fontSize: 28, fill: "#9aa5b1" } }] };
}

function stackedByDistrict(title, keys, byDistrict, names, colours) {
  if (byDistrict == null) return notShown(title);
  return {
    ...base(title),
    xAxis: districtAxis(),
    yAxis: { type: "value", axisLabel: { fontSize: 10 } },
    series: keys.map((key, i) => ({
      name: names[i], type: "bar", stack: "total", itemStyle: { color: colours[i] }, emphasis: { focus: "series" },
      data: districts.map((d) => byDistrict[d.code]?.[key] ?? 0),
    })),
  };
}

function options(stats) {
  const riskColours = specColours("enterprises", "risk_colour");
  const gradeColours = specColours("hazard_sources", "grade");
  return [
    stackedByDistrict(t("stats_risk_by_district"), RISKS, stats.enterprises_by_risk,
      RISKS.map((r) => enumLabel("enterprises.risk_colour", r)), RISKS.map((r) => riskColours[r])),
    stackedByDistrict(t("stats_sector_by_district"), SECTORS, stats.enterprises_by_sector,
      SECTORS.map((s) => enumLabel("enterprises.sector", s)), SECTOR_COLOURS),
    stats.hazard_sources_by_grade == null ? notShown(t("stats_hazard_grades")) : {
      ...base(t("stats_hazard_grades")),
      tooltip: { trigger: "item" },
      legend: { show: false },
      series: [{
        type: "pie", radius: ["28%", "52%"], center: ["50%", "58%"],
        label: { fontSize: 11, formatter: "{b}\n{c}", overflow: "none" }, labelLine: { length: 6, length2: 6 },
        data: [1, 2, 3, 4].map((g) => ({ name: enumLabel("hazard_sources.grade", g), value: stats.hazard_sources_by_grade[g] ?? 0,
          itemStyle: { color: gradeColours[g] } })),
      }],
    },
    {
      ...base(t("stats_resources")),
      legend: { show: false },
      xAxis: { type: "category", data: stats.resources_by_kind.map((r) => L(r.title)), axisLabel: { fontSize: 10, interval: 0, rotate: 20 } },
      yAxis: { type: "value", axisLabel: { fontSize: 10 } },
      series: [{ type: "bar", data: stats.resources_by_kind.map((r) => r.count), itemStyle: { color: "#1e88e5" },
        label: { show: true, position: "top", fontSize: 10 } }],
    },
  ];
}

/** Load (or reload, for a district) the figures and draw the four charts. */
export async function loadStats(district = null) {
  const stats = await api("api/console/stats", { params: { district } });
  districts = stats.districts;
  const boxes = container.querySelectorAll(".chart");
  if (!charts.length) {
    charts = [...boxes].map((el) => echarts.init(el, null, { renderer: "canvas" }));
    for (const chart of charts.slice(0, 2)) {
      chart.on("click", (params) => {
        const d = districts[params.dataIndex];
        if (d) hooks.onDistrict(d);
      });
    }
  }
  options(stats).forEach((option, i) => charts[i].setOption(option, true));
  container.dataset.loaded = district ?? "all";
  return stats;
}

export function initStats(element, options_) {
  container = element;
  hooks = { ...hooks, ...options_ };
}

export function resizeStats() {
  for (const chart of charts) chart.resize();
}

export function districtByCode(code) {
  return districts.find((d) => d.code === code);
}

/* PHIP console: maps and charts (Apache ECharts), everything served by the platform itself. */
(function () {
  "use strict";
  const locale = document.body.dataset.locale || "zh-CN";
  const zh = locale.startsWith("zh");
  const fmt = (v, digits) =>
    v === null || v === undefined ? "—" :
      new Intl.NumberFormat(locale, { maximumFractionDigits: digits === undefined ? 2 : digits }).format(v);
  const charts = [];
  const make = (el) => {
    const c = echarts.init(el);
    c.setOption({ animation: false }); // what is drawn is final at once (and in screenshots)
    charts.push(c);
    return c;
  };
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error(url + " → " + r.status);
    return r.json();
  }

  function params(obj) {
    const p = new URLSearchParams();
    Object.entries(obj).forEach(([k, v]) => { if (v) p.set(k, v); });
    return p.toString();
  }

  let mapChart = null;
  let trendChart = null;

  // fixed class breaks (e.g. [80, 90, 95] for a reporting rate): red below the first, green from the last
  function pieces(breaks, unit) {
    const colours = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"].slice(-(breaks.length + 1));
    const u = unit === "%" ? "%" : "";
    const out = [{ lt: breaks[0], color: colours[0], label: "< " + breaks[0] + u }];
    breaks.forEach((b, i) => {
      const next = breaks[i + 1];
      out.push(next === undefined
        ? { gte: b, color: colours[i + 1], label: "≥ " + b + u }
        : { gte: b, lt: next, color: colours[i + 1], label: b + "–" + next + u });
    });
    return { type: "piecewise", pieces: out, left: "left", bottom: 10, outOfRange: { color: ["#d0d0d0"] } };
  }

  // classes of equal counts (quintiles) of the values shown, their bounds rounded to two
  // significant digits, so that each colour holds about as many regions and reads as a range
  function quantiles(vals, unit) {
    const round = (v) => (v === 0 ? 0 : Number(v.toPrecision(2)));
    const sorted = vals.slice().sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const cuts = sorted.length
      ? [...new Set([0.2, 0.4, 0.6, 0.8].map((q) => round(at(q))))].filter((v) => v > sorted[0]) : [];
    const colours = ["#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695"].slice(-(cuts.length + 1));
    const u = unit === "%" || unit === "‰" ? unit : "";
    if (!sorted.length || !cuts.length) {
      // one value (or none): one class
      const only = sorted.length ? sorted[0] : 0;
      return { type: "piecewise", left: "left", bottom: 10, outOfRange: { color: ["#d0d0d0"] },
        pieces: [{ value: only, color: colours[colours.length - 1],
          label: sorted.length ? fmt(only) + u : (zh ? "暂无数据" : "no data") }] };
    }
    const out = [{ lt: cuts[0], color: colours[0], label: "< " + fmt(cuts[0]) + u }];
    cuts.forEach((c, i) => {
      const next = cuts[i + 1];
      out.push(next === undefined
        ? { gte: c, color: colours[i + 1], label: "≥ " + fmt(c) + u }
        : { gte: c, lt: next, color: colours[i + 1], label: fmt(c) + "–" + fmt(next) + u });
    });
    return { type: "piecewise", pieces: out, left: "left", bottom: 10, outOfRange: { color: ["#d0d0d0"] } };
  }

  async function drawMap(period) {
    const el = document.getElementById("map");
    if (!el) return;
    const indicator = document.getElementById("map-indicator").value;
    // a page that chooses the period itself (the reporting page) says so on the map element
    const periodType = el.dataset.periodType;
    period = period || el.dataset.period;
    const points = document.getElementById("map-facilities");
    const withFacilities = points && points.checked ? "true" : "";
    const data = await getJSON("/console/data/map?" +
      params({ indicator, unit: el.dataset.unit, period, period_type: periodType, facilities: withFacilities }));
    const name = "unit-" + data.area.code;
    echarts.registerMap(name, data.regions);
    const sel = document.getElementById("map-period");
    if (sel) {
      sel.innerHTML = "";
      data.periods.forEach((p) => {
        const o = document.createElement("option");
        o.value = p; o.textContent = p; o.selected = p === data.period; sel.appendChild(o);
      });
    }
    const byName = {};
    data.values.forEach((v) => { byName[v.name] = v; });
    const seriesData = data.regions.features.map((f) => {
      const v = data.values.find((x) => x.code === f.properties.code);
      const item = { name: f.properties.name, code: f.properties.code, value: v ? v.value : null, row: v || null };
      // no data (or hidden): an explicit grey, never a colour of the scale
      if (!v || v.suppressed || v.value === null) item.itemStyle = { areaColor: "#d0d0d0" };
      // a value resting on missing reports or a running period: outlined
      else if (v.complete === false) item.itemStyle = { borderColor: "#b54708", borderWidth: 2 };
      return item;
    });
    const vals = seriesData.map((d) => d.value).filter((v) => v !== null);
    mapChart = mapChart || make(el);
    mapChart.clear();
    mapChart.setOption({
      title: { text: data.name + (data.period ? " · " + data.period : ""), left: "center", textStyle: { fontSize: 14 } },
      tooltip: {
        trigger: "item",
        formatter: (p) => {
          if (p.componentType === "markPoint") {
            const f = p.data.facility;
            return f.name + "<br>" + f.tier + " · " + (f.connected ? (zh ? "已接入" : "connected") : (zh ? "未接入" : "not connected"));
          }
          const r = p.data && p.data.row;
          if (!r) return p.name + "<br>" + (zh ? "暂无数据" : "No data");
          if (r.suppressed) return p.name + "<br>" + (zh ? "小于5例，已隐藏" : "fewer than 5, hidden");
          const partial = r.complete === false ? "<br>" + (zh ? "数据不完整" : "incomplete") +
            (r.reports ? " (" + (zh ? "已收/应报 " : "reports ") + r.reports + ")" : "") : "";
          return p.name + "<br><b>" + r.shown + "</b><br>" + (zh ? "分子 " : "numerator ") + fmt(r.numerator) +
            " / " + (zh ? "分母 " : "denominator ") + fmt(r.denominator) + partial;
        },
      },
      visualMap: el.dataset.breaks ? pieces(JSON.parse(el.dataset.breaks), data.unit) : quantiles(vals, data.unit),
      graphic: [{ type: "text", right: 10, bottom: 10, style: { text: zh ? "灰色：暂无数据  橙框：数据不完整" : "grey: no data   orange outline: incomplete", fontSize: 11, fill: "#555" } }],
      series: [{ type: "map", map: name, roam: true, data: seriesData, label: { show: seriesData.length < 30, fontSize: 10 },
                 emphasis: { label: { show: true } },
                 // the located facilities: green connected, red not
                 markPoint: data.facilities.length ? {
                   symbol: "circle", symbolSize: 8, label: { show: false },
                   data: data.facilities.map((f) => ({ name: f.name, coord: [f.lon, f.lat], facility: f,
                     itemStyle: { color: f.connected ? "#067647" : "#b42318", borderColor: "#fff", borderWidth: 1 } })),
                 } : undefined }],
    });
    el.dataset.regions = String(data.regions.features.length);
    el.dataset.values = String(data.values.length);
    el.dataset.facilities = String(data.facilities.length);
    el.dataset.period = data.period || "";
    mapChart.off("click");
    if (data.drill) {
      mapChart.on("click", (p) => {
        if (!p.data || !p.data.code) return;
        window.location.href = el.dataset.drill
          ? el.dataset.drill + "?" + params({ unit: p.data.code, period_type: periodType, period: data.period })
          : "/?" + params({ unit: p.data.code, indicator });
      });
    }
    fillMapTable(data, indicator);
    document.body.dataset.mapReady = "1";
  }

  function fillMapTable(data, indicator) {
    const body = document.querySelector("#map-table tbody");
    if (!body) return;
    body.innerHTML = "";
    const rows = data.values.slice().sort((a, b) => (b.value ?? -Infinity) - (a.value ?? -Infinity));
    rows.forEach((v) => {
      const tr = document.createElement("tr");
      tr.dataset.unit = v.code;
      const name = document.createElement("td");
      if (data.drill) {
        const a = document.createElement("a");
        a.href = "/?" + params({ unit: v.code, indicator });
        a.textContent = v.name;
        name.appendChild(a);
      } else {
        name.textContent = v.name;
      }
      tr.appendChild(name);
      const cells = v.suppressed ? [zh ? "小于5例，已隐藏" : "fewer than 5, hidden", "", ""]
        : [v.shown, fmt(v.numerator), fmt(v.denominator)];
      cells.forEach((text) => {
        const td = document.createElement("td");
        td.className = "num";
        td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  async function drawTrend() {
    const el = document.getElementById("trend");
    if (!el) return;
    const indicator = document.getElementById("map-indicator").value;
    const data = await getJSON("/console/data/trend?" + params({ indicator, unit: el.dataset.unit }));
    trendChart = trendChart || make(el);
    trendChart.clear();
    trendChart.setOption({
      title: { text: (zh ? "趋势 · " : "Trend · ") + data.name, left: "center", textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v) + (data.unit === "%" ? "%" : "") },
      xAxis: { type: "category", data: data.points.map((p) => p.period) },
      yAxis: { type: "value" },
      series: [{ type: "line", data: data.points.map((p) => p.value), smooth: true }],
    });
    el.dataset.points = String(data.points.length);
  }

  function drawTableCharts(root) {
    (root || document).querySelectorAll("[data-chart]").forEach((el) => {
      const spec = JSON.parse(el.dataset.chart);
      const c = make(el);
      c.setOption({
        title: spec.title ? { text: spec.title, left: "center", textStyle: { fontSize: 14 } } : undefined,
        tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v) },
        grid: { left: 60, right: 20, bottom: 90, top: spec.series ? 80 : 60 },
        legend: spec.series ? { top: spec.title ? 30 : 0 } : undefined,
        xAxis: { type: "category", data: spec.labels, axisLabel: { rotate: 40, fontSize: 10 } },
        yAxis: { type: "value", name: spec.unit },
        series: (spec.series || [{ name: spec.name, values: spec.values }]).map((s, i) => ({
          type: spec.kind || "bar", data: s.values, name: s.name, stack: spec.stack ? "all" : undefined,
          // the indicator's target as a dashed line (on the first series only)
          markLine: i === 0 && spec.target !== undefined && spec.target !== null ? {
            symbol: "none", lineStyle: { type: "dashed", color: "#b54708" },
            label: { formatter: (zh ? "目标 " : "target ") + spec.target },
            data: [{ yAxis: spec.target }],
          } : undefined,
        })),
      });
      el.dataset.drawn = "1";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const ind = document.getElementById("map-indicator");
    if (ind) {
      drawMap();
      drawTrend();
      ind.addEventListener("change", () => { drawMap(); drawTrend(); });
      const points = document.getElementById("map-facilities");
      if (points) points.addEventListener("change", () => drawMap(document.getElementById("map").dataset.period));
      const mapPeriod = document.getElementById("map-period");
      if (mapPeriod) mapPeriod.addEventListener("change", (e) => drawMap(e.target.value));
    }
    drawTableCharts(document);
    document.body.addEventListener("htmx:afterSwap", (e) => drawTableCharts(e.target));
    // a counter tests and timings wait on: the swapped content is live (its triggers bound)
    document.body.addEventListener("htmx:afterSettle", () => {
      document.body.dataset.settled = String(Number(document.body.dataset.settled || 0) + 1);
    });
  });
})();

// 定海区技能型社会试点 · 指标晾晒 — the officials' dashboard.
// Plain JS, no dependencies: reads the indicators API and draws SVG charts by hand.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const state = { api: null, catalogue: null, timer: null };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  function fmt(value, digits = 2) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("zh-CN", { maximumFractionDigits: digits });
  }

  function qs(params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") q.set(key, String(value));
    }
    const text = q.toString();
    return text ? `?${text}` : "";
  }

  async function getJSON(path) {
    const response = await fetch(state.api + path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${response.status} ${path}`);
    return response.json();
  }

  async function findApi() {
    // Through the gateway the API is /api/indicators/v1; on the service itself it is /v1.
    for (const base of ["/api/indicators/v1", "/v1"]) {
      try {
        const response = await fetch(`${base}/indicators/catalogue`);
        if (response.ok) {
          state.api = base;
          return response.json();
        }
      } catch (error) {
        // try the next base
      }
    }
    throw new Error("指标接口不可用");
  }

  function selected() {
    return {
      town: $("town").value,
      year: Number($("year").value),
      asOf: $("asof").value,
      code: $("code").value,
    };
  }

  function targetYears() {
    const years = new Set();
    for (const indicator of state.catalogue.indicators) {
      for (const year of Object.keys(indicator.targets || {})) years.add(Number(year));
    }
    const last = Number(state.catalogue.today.slice(0, 4)) + 1;
    return [...years].filter((y) => y <= last).sort();
  }

  function fillControls(catalogue) {
    for (const town of catalogue.towns) {
      $("town").append(el("option", { value: town.code }, town.name_zh));
    }
    for (const year of catalogue.years) {
      $("year").append(el("option", { value: year }, `${year}年`));
    }
    $("year").value = String(catalogue.years[catalogue.years.length - 1]);
    for (const indicator of catalogue.indicators) {
      const label = indicator.source_available
        ? indicator.name_zh
        : `${indicator.name_zh}（待数据源接入）`;
      $("code").append(el("option", { value: indicator.code }, label));
    }
    $("code").value = "skilled_talents";
    $("policy").textContent = catalogue.policy_version;
    boundAsOf();
  }

  function boundAsOf() {
    const year = $("year").value;
    const input = $("asof");
    input.min = `${year}-01-01`;
    input.max = `${year}-12-31`;
    if (input.value && !input.value.startsWith(year)) input.value = "";
  }

  function progressBar(percent) {
    const width = Math.max(0, Math.min(100, percent || 0));
    return svg(
      "svg",
      { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", role: "img",
        "aria-label": percent === null ? "无目标" : `完成 ${fmt(percent, 1)}%` },
      svg("rect", { class: "bar-bg", x: 0, y: 0, width: 100, height: 10, rx: 3, fill: "#eef2f6" }),
      svg("rect", { class: "bar-fill", x: 0, y: 0, width, height: 10, rx: 3,
        fill: percent >= 100 ? "#2f8132" : "#1769aa" }),
    );
  }

  function badge(onTrack, item) {
    if (item && item.target !== null && item.value === null) {
      // A share without a denominator: no baseline entered yet, or nobody to count.
      return el("span", { class: "badge none" }, item.denominator === null ? "待录入基数" : "暂无数据");
    }
    if (onTrack === null || onTrack === undefined) return el("span", { class: "badge none" }, "无目标");
    return onTrack
      ? el("span", { class: "badge yes" }, "达标")
      : el("span", { class: "badge no" }, "未达标");
  }

  const GROUPS = [
    ["cards", "核心指标", (i) => i.source_available && !i.code.includes(".")],
    ["cards-more", "培训人次（按培训领域）", (i) => i.code.startsWith("training_person_times.")],
    ["cards-more", "培育技能人才（按培训领域）", (i) => i.code.startsWith("talents_cultivated.")],
    ["cards-more", "待接入数据源的指标（暂计 0）", (i) => !i.source_available],
  ];

  function renderCards(reports, chosenYear) {
    $("cards").replaceChildren();
    $("cards-more").replaceChildren();
    const years = Object.keys(reports).map(Number).sort();
    const main = reports[chosenYear] || reports[years[years.length - 1]];
    for (const [container, title, member] of GROUPS) {
      const items = main.indicators.filter(member);
      if (!items.length) continue;
      const grid = el("div", { class: "card-grid" });
      $(container).append(el("h3", { class: "group" }, title), grid);
      for (const indicator of items) grid.append(card(indicator, reports, years, main));
    }
    const town = main.town_name_zh ? `${main.town_name_zh} · ` : "全区 · ";
    $("progress-note").textContent =
      `${town}${main.year}年截至 ${main.as_of}（存量按截至日，流量按当年 1 月 1 日起）`;
  }

  function card(indicator, reports, years, main) {
    const rows = years.map((year) => {
      const item = reports[year].indicators.find((i) => i.code === indicator.code);
      const comparison = item.comparison === ">" ? "超" : "≥";
      const targetText = item.target === null
        ? (reports[year].town ? "镇街不设目标" : "本年无目标")
        : `目标 ${comparison}${fmt(item.target)}${item.unit_zh}`;
      return el(
        "div",
        { class: "year-row", "data-year": year },
        el(
          "div",
          { class: "line" },
          el(
            "span",
            {},
            `${year}年 `,
            el("b", { class: "year-value", "data-value": JSON.stringify(item.value) },
              fmt(item.value)),
            ` ${item.unit_zh} · ${targetText}`,
            item.progress_percent === null ? "" : ` · ${fmt(item.progress_percent, 1)}%`,
          ),
          badge(item.on_track, item),
        ),
        item.target === null ? null : progressBar(item.progress_percent),
      );
    });
    const parts = indicator.measure === "share" && indicator.denominator !== null
      ? el("span", { class: "unit" },
        `（${fmt(indicator.numerator)} / ${fmt(indicator.denominator)}）`)
      : null;
    const name = indicator.code.includes(".")
      ? indicator.name_zh.split("·").slice(1).join("·")
      : indicator.name_zh;
    return el(
      "article",
      { class: indicator.source_available ? "card" : "card awaited-card",
        "data-code": indicator.code, title: indicator.name_zh },
      el("h4", {}, name),
      el(
        "div",
        { class: "headline" },
        el("span", { class: "num", "data-year": main.year,
          "data-value": JSON.stringify(indicator.value) }, fmt(indicator.value)),
        el("span", { class: "unit" }, indicator.unit_zh),
        parts,
        indicator.source_available ? null : el("span", { class: "awaited" }, "待数据源接入"),
      ),
      rows,
    );
  }

  function renderRanking(breakdown) {
    const chart = $("ranking-chart");
    chart.replaceChildren();
    $("ranking-title").textContent = `镇街排名 · ${breakdown.name_zh}`;
    const values = breakdown.rows.map((r) => r.value).filter((v) => v !== null);
    if (!values.length) {
      $("ranking-note").textContent = "该指标不按镇街统计（如分母为全区从业人员基数）。";
      return;
    }
    const unassigned = breakdown.unassigned ? `；未分配镇街 ${fmt(breakdown.unassigned)}` : "";
    $("ranking-note").textContent =
      `${breakdown.year}年截至 ${breakdown.as_of}，全区 ${fmt(breakdown.total)} ${breakdown.unit_zh}${unassigned}`;
    const max = Math.max(1, ...values);
    const rowHeight = 26;
    const width = 360;
    const left = 112;
    const right = 56;
    const height = breakdown.rows.length * rowHeight + 6;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${breakdown.name_zh}镇街排名` });
    breakdown.rows.forEach((row, index) => {
      const y = index * rowHeight + 4;
      const barWidth = row.value === null ? 0 : ((width - left - right) * row.value) / max;
      root.append(
        svg(
          "g",
          { class: "rank-row", "data-town": row.key, "data-rank": row.rank,
            "data-value": JSON.stringify(row.value) },
          svg("text", { x: 4, y: y + 15, class: "muted" }, row.rank === null ? "—" : String(row.rank)),
          svg("text", { x: 26, y: y + 15 }, row.name_zh),
          svg("rect", { class: "bar-bg", x: left, y: y + 3, width: width - left - right,
            height: rowHeight - 10, rx: 3, fill: "#eef2f6" }),
          svg("rect", { class: "bar-fill", x: left, y: y + 3, width: Math.max(0, barWidth),
            height: rowHeight - 10, rx: 3, fill: "#1769aa" }),
          svg("text", { x: width - right + 4, y: y + 15 }, fmt(row.value)),
        ),
      );
    });
    chart.append(root);
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function renderTrend(trend) {
    const chart = $("trend-chart");
    chart.replaceChildren();
    $("trend-title").textContent = `逐月趋势 · ${trend.name_zh}`;
    $("trend-note").textContent =
      `${trend.town ? "所选镇街" : "全区"}每月末数值（单位：${trend.unit_zh}；流量指标为当年累计）`;
    const points = trend.points;
    if (!points.length) return;
    const width = 360;
    const height = 210;
    const margin = { left: 46, right: 10, top: 12, bottom: 30 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const values = points.map((p) => p.value).filter((v) => v !== null);
    const top = niceMax(Math.max(0, ...values));
    const x = (i) => margin.left + (points.length === 1 ? plotW / 2 : (plotW * i) / (points.length - 1));
    const y = (v) => margin.top + plotH - (plotH * v) / top;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${trend.name_zh}趋势` });
    for (const fraction of [0, 0.5, 1]) {
      const value = top * fraction;
      root.append(
        svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: y(value),
          y2: y(value), stroke: "#d9e2ec" }),
        svg("text", { x: margin.left - 4, y: y(value) + 4, "text-anchor": "end", class: "muted" },
          fmt(value, 1)),
      );
    }
    let line = "";
    let area = "";
    let start = null;
    points.forEach((point, i) => {
      if (point.value === null) {
        start = null;
        return;
      }
      const command = start === null ? "M" : "L";
      line += `${command}${x(i).toFixed(1)},${y(point.value).toFixed(1)} `;
      if (start === null) {
        start = i;
        area += `M${x(i).toFixed(1)},${y(0).toFixed(1)} `;
      }
      area += `L${x(i).toFixed(1)},${y(point.value).toFixed(1)} `;
      const next = points[i + 1];
      if (!next || next.value === null) area += `L${x(i).toFixed(1)},${y(0).toFixed(1)} Z `;
    });
    if (area) root.append(svg("path", { class: "trend-area", d: area.trim(), fill: "rgba(23,105,170,0.12)" }));
    if (line) root.append(svg("path", { class: "trend-line", d: line.trim(), fill: "none",
      stroke: "#1769aa", "stroke-width": 2.5 }));
    const every = Math.max(1, Math.ceil(points.length / 6));
    points.forEach((point, i) => {
      if (point.value !== null) {
        root.append(svg("circle", { class: "trend-point", cx: x(i), cy: y(point.value), r: 3,
          "data-date": point.date, "data-value": JSON.stringify(point.value),
          fill: "#fff", stroke: "#1769aa", "stroke-width": 2 },
          svg("title", {}, `${point.date}：${fmt(point.value)}`)));
      }
      const last = i === points.length - 1;
      if ((i % every === 0 && (last || points.length - 1 - i >= every * 0.75)) || last) {
        root.append(svg("text", { x: x(i), y: height - 10, "text-anchor": last ? "end" : "middle",
          class: "muted" }, point.date.slice(2, 7)));
      }
    });
    chart.append(root);
  }

  function setStatus(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function refresh() {
    const choice = selected();
    const years = targetYears();
    try {
      const reports = {};
      await Promise.all(
        years.map(async (year) => {
          const asOf = choice.asOf && choice.asOf.startsWith(String(year)) ? choice.asOf : "";
          reports[year] = await getJSON(`/indicators${qs({ year, as_of: asOf, town: choice.town })}`);
        }),
      );
      if (!reports[choice.year]) {
        reports[choice.year] = await getJSON(
          `/indicators${qs({ year: choice.year, as_of: choice.asOf, town: choice.town })}`,
        );
      }
      renderCards(reports, choice.year);
      const [breakdown, trend] = await Promise.all([
        getJSON(`/indicators/breakdown${qs({ code: choice.code, year: choice.year, as_of: choice.asOf })}`),
        getJSON(`/indicators/trend${qs({ code: choice.code, town: choice.town, interval: "month" })}`),
      ]);
      renderRanking(breakdown);
      renderTrend(trend);
      const exportQuery = qs({ year: choice.year, as_of: choice.asOf });
      $("export-xlsx").href = `${state.api}/exports/indicators.xlsx${exportQuery}`;
      $("export-csv").href = `${state.api}/exports/indicators.csv${exportQuery}`;
      const main = reports[choice.year];
      const time = new Date().toLocaleTimeString("zh-CN", { hour12: false });
      setStatus(`数据截至 ${main.as_of} · 滞后 ${main.lag_events} 条事件 · 刷新于 ${time}`);
      document.body.dataset.ready = "true";
    } catch (error) {
      setStatus(`加载失败：${error.message}`, true);
    }
  }

  async function start() {
    try {
      state.catalogue = await findApi();
    } catch (error) {
      setStatus(`加载失败：${error.message}`, true);
      return;
    }
    fillControls(state.catalogue);
    $("controls").addEventListener("change", (event) => {
      if (event.target.id === "year") boundAsOf();
      refresh();
    });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    await refresh();
    state.timer = setInterval(refresh, 60000);
  }

  document.addEventListener("DOMContentLoaded", start);
})();

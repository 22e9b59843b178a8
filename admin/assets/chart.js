// A small line chart on a <canvas>, written for the rblzone console (no
// library, nothing fetched). RblChart.line(canvas, labels, series) where
// series is [{name, color, values}], values numbers or null, one per label.
"use strict";
(function () {
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function line(canvas, labels, series) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    const left = 48, right = 10, top = 10, bottom = 40;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px sans-serif";
    let max = 0;
    for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
    max = niceMax(max);
    const x = (i) => left + (labels.length < 2 ? 0 : (i * (w - left - right)) / (labels.length - 1));
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    // axes and grid
    ctx.strokeStyle = "#d5dae1";
    ctx.fillStyle = "#5a6473";
    ctx.textAlign = "right";
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y(v));
      ctx.lineTo(w - right, y(v));
      ctx.stroke();
      ctx.fillText(String(Math.round(v * 100) / 100), left - 4, y(v) + 4);
    }
    ctx.textAlign = "center";
    const every = Math.max(1, Math.ceil(labels.length / 6));
    for (let i = 0; i < labels.length; i += every) ctx.fillText(labels[i], x(i), h - bottom + 14);
    // lines
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let drawing = false;
      s.values.forEach((v, i) => {
        if (v == null) { drawing = false; return; }
        if (drawing) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
        drawing = true;
      });
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    // legend
    let lx = left;
    ctx.textAlign = "left";
    for (const s of series) {
      ctx.fillStyle = s.color;
      ctx.fillRect(lx, h - 14, 10, 10);
      ctx.fillStyle = "#1d2430";
      ctx.fillText(s.name, lx + 14, h - 5);
      lx += 20 + ctx.measureText(s.name).width + 10;
    }
    if (labels.length === 0) {
      ctx.fillStyle = "#5a6473";
      ctx.fillText("no data yet", left + 10, top + 20);
    }
  }

  window.RblChart = { line: line };
})();

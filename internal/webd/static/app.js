// netsim shop: the demo's static script (internal/webd/static). It fills
// the table from the api pool through lbd: GET /api/orders.
"use strict";
(function () {
  const body = document.querySelector("#orders tbody");
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function row(o) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(o.id));
    tr.appendChild(cell(o.customer));
    tr.appendChild(cell(o.items.map(function (i) { return i.quantity + " × " + i.product; }).join(", ")));
    tr.appendChild(cell(o.total.toFixed(2) + " " + o.currency, "total"));
    const st = cell("");
    const badge = document.createElement("span");
    badge.className = "status-" + o.status;
    badge.textContent = o.status;
    st.appendChild(badge);
    tr.appendChild(st);
    return tr;
  }
  fetch("/api/orders", { headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("GET /api/orders: " + r.status + " (rate limited? see X-RateLimit-Remaining)");
      return r.json();
    })
    .then(function (d) { d.data.forEach(function (o) { body.appendChild(row(o)); }); })
    .catch(function (e) {
      const tr = document.createElement("tr");
      const td = cell(String(e));
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    });
})();

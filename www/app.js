// Loaded as text/javascript; fetches data.json (application/json) and
// shows it, so the page proves both types arrive intact.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const out = document.getElementById("status");
  try {
    const res = await fetch("data.json");
    const data = await res.json();
    out.textContent = `data.json: ${res.status} ${res.headers.get("content-type")}, ` +
      `${data.types.length} file types`;
  } catch (err) {
    out.textContent = `data.json failed: ${err}`;
  }
});

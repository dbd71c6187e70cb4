// skiff's listing, enhanced: drop files anywhere on the page, or use the
// form, and they are uploaded here without leaving the page. The page
// works without this script (the form posts and shows what was stored);
// it is served as a file so the page runs under a strict
// Content-Security-Policy (no inline script).
(function () {
  "use strict";
  var form = document.querySelector("form.upload");
  if (!form || !window.fetch || !window.FormData) return;
  var status = form.querySelector(".status");
  var field = form.querySelector("input[type=file]").name;

  function say(text) { status.textContent = text; }

  function send(files) {
    if (!files || files.length === 0) return;
    var data = new FormData();
    for (var i = 0; i < files.length; i++) data.append(field, files[i], files[i].name);
    say("Uploading " + files.length + (files.length === 1 ? " file" : " files") + "\u2026");
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 201) { say("Uploaded."); location.reload(); return; }
        var why = { 409: "a file of that name is already here", 413: "too large",
                    507: "the disk is full", 403: "not allowed here", 401: "sign in first" }[r.status];
        say("Not uploaded: " + (why || ("the server said " + r.status)) + ".");
      })
      .catch(function () { say("Not uploaded: the connection failed."); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    send(form.querySelector("input[type=file]").files);
  });
  document.addEventListener("dragover", function (e) {
    e.preventDefault();
    document.body.classList.add("dropping");
  });
  document.addEventListener("dragleave", function (e) {
    if (e.target === document.documentElement || e.target === document.body) {
      document.body.classList.remove("dropping");
    }
  });
  document.addEventListener("drop", function (e) {
    e.preventDefault();
    document.body.classList.remove("dropping");
    if (e.dataTransfer) send(e.dataTransfer.files);
  });
})();

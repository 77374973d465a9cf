/*
 * The upload form, improved: each photo is sent on its own, with a progress
 * bar, and retried with growing waits when the network or the server fails,
 * or when the server asks to wait (429 after failed sign-ins from the same
 * address; sending the same photo again is harmless: it is stored once).
 * Without this script the form still posts all photos in one request.
 * Text from files and the server is only ever set with textContent.
 */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.Promise) {
    return;
  }

  var RETRY_WAITS = [1000, 2000, 4000, 8000, 16000];
  var AT_ONCE = 2;
  var MAX_WAIT_SECONDS = 120;

  var panel = document.getElementById("progress");
  var queue = document.getElementById("queue");
  var summary = document.getElementById("summary");
  var button = form.querySelector("button[type=submit]");
  var apiBase = form.getAttribute("data-api");
  var maxBytes = Number(form.getAttribute("data-max-bytes"));
  var maxMb = form.getAttribute("data-max-mb");
  var busy = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) {
      return;
    }
    var files = chosenFiles();
    if (!files.length) {
      panel.hidden = false;
      queue.textContent = "";
      summary.textContent = "Choose one or more photos first.";
      return;
    }
    start(files);
  });

  window.addEventListener("beforeunload", function (event) {
    if (busy) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  function chosenFiles() {
    var files = [];
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      for (var j = 0; j < inputs[i].files.length; j++) {
        files.push(inputs[i].files[j]);
      }
    }
    return files;
  }

  function start(files) {
    var select = form.elements.job_id;
    var job = {
      id: select.value,
      gallery: select.options[select.selectedIndex].getAttribute("data-gallery")
    };
    var fields = { description: form.elements.description.value, tags: form.elements.tags.value };
    queue.textContent = "";
    var items = files.map(addRow);
    var counts = { stored: 0, duplicate: 0, failed: 0 };
    var next = 0;

    busy = true;
    button.disabled = true;
    panel.hidden = false;
    summary.textContent = "";

    function worker() {
      if (next >= items.length) {
        return Promise.resolve();
      }
      var item = items[next++];
      return send(item, job.id, fields, 0).then(function (outcome) {
        counts[outcome] += 1;
        return worker();
      });
    }

    var workers = [];
    for (var i = 0; i < Math.min(AT_ONCE, items.length); i++) {
      workers.push(worker());
    }
    Promise.all(workers).then(function () {
      finish(counts, job);
    });
  }

  function addRow(file) {
    var row = document.createElement("li");
    var name = document.createElement("span");
    var bar = document.createElement("progress");
    var state = document.createElement("span");
    name.className = "name";
    name.textContent = file.name || "photo";
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + (file.name || "photo"));
    state.className = "state";
    row.appendChild(name);
    row.appendChild(bar);
    row.appendChild(state);
    queue.appendChild(row);
    var item = { file: file, row: row, bar: bar, state: state };
    setState(item, "waiting", "Waiting");
    return item;
  }

  function setState(item, state, text) {
    item.row.setAttribute("data-state", state);
    item.state.textContent = text;
  }

  function send(item, jobId, fields, attempt) {
    if (maxBytes && item.file.size > maxBytes) {
      setState(item, "failed", "Too large: at most " + maxMb + " MiB per photo.");
      return Promise.resolve("failed");
    }
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", apiBase + encodeURIComponent(jobId) + "/images");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          item.bar.value = Math.min(99, Math.round((event.loaded * 100) / event.total));
        }
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(succeeded(item, xhr));
        } else if (xhr.status === 429) {
          retry("Too many failed sign-ins from this network", retryAfter(xhr));
        } else if (xhr.status >= 500) {
          retry("The server had a problem", 0);
        } else {
          setState(item, "failed", errorText(xhr));
          resolve("failed");
        }
      };
      xhr.onerror = function () {
        retry("No connection", 0);
      };
      xhr.ontimeout = xhr.onerror;

      function retry(reason, atLeast) {
        if (attempt >= RETRY_WAITS.length) {
          setState(item, "failed", reason + "; not sent. Try again later.");
          resolve("failed");
          return;
        }
        var wait = Math.max(RETRY_WAITS[attempt], atLeast);
        item.bar.value = 0;
        setState(item, "retrying", reason + "; trying again in " + wait / 1000 + " s.");
        setTimeout(function () {
          send(item, jobId, fields, attempt + 1).then(resolve);
        }, wait);
      }

      var data = new FormData();
      data.append("image", item.file, item.file.name || "photo");
      data.append("description", fields.description);
      data.append("tags", fields.tags);
      setState(item, "sending", attempt ? "Sending again" : "Sending");
      xhr.send(data);
    });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function retryAfter(xhr) {
    var seconds = parseInt(xhr.getResponseHeader("Retry-After"), 10);
    return seconds > 0 ? Math.min(seconds, MAX_WAIT_SECONDS) * 1000 : 0;
  }

  function succeeded(item, xhr) {
    var duplicate = false;
    try {
      duplicate = JSON.parse(xhr.responseText).images.every(function (image) {
        return image.duplicate;
      });
    } catch (ignored) {
      duplicate = false;
    }
    item.bar.value = 100;
    setState(item, "done", duplicate ? "Was already uploaded" : "Stored");
    return duplicate ? "duplicate" : "stored";
  }

  function errorText(xhr) {
    try {
      var message = JSON.parse(xhr.responseText).error;
      if (message) {
        return "Not stored: " + message + ".";
      }
    } catch (ignored) {
      // not JSON: fall through to the status line
    }
    return "Not stored (error " + xhr.status + ").";
  }

  function finish(counts, job) {
    busy = false;
    button.disabled = false;
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].value = "";
    }
    summary.textContent =
      counts.stored + " stored, " + counts.duplicate + " already there, " + counts.failed + " failed. ";
    if (counts.stored && job.gallery) {
      var link = document.createElement("a");
      link.href = job.gallery;
      link.textContent = "Open the job's gallery";
      summary.appendChild(link);
    }
  }
})();

/*
 * The upload form with an offline queue (see queue.js for what is kept and
 * how it is sent). Chosen photos go into the queue at once, held until
 * Upload is pressed, which gives them the job, description and tags on the
 * form and the phone's position taken when they were chosen. The list shows
 * every queued photo with its job: held, waiting, being sent (with progress),
 * failed and why (Retry), and those stored while the page was open. Any photo
 * not on its way yet can be discarded, after a confirm(). The queue is
 * sent when the page opens, when the network comes back and after each wait;
 * the service worker (sw.js, only in a secure context) keeps the form
 * working offline and sends with Background Sync where the browser has it.
 * Each page has its own id: Upload releases only the photos this page
 * picked, each keeping the job, description and tags it was picked under.
 * Photos left held by another page or an earlier visit are shown at the top
 * ("Send to <job>" / "Discard"); photos picked by another user are never
 * sent under this one (they wait for that user, or are discarded; signing
 * out is in signout.js).
 * Without this script the form still posts all photos in one request.
 * Text from files and the server is only ever set with textContent.
 */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  var Queue = window.UploadQueue;
  if (!form || !Queue || !window.indexedDB || !window.FormData || !window.Promise) {
    return;
  }

  var GEO_WAIT_MS = 3000;
  var RENDER_DELAY_MS = 100;
  var FOLLOW_DELAY_MS = 300;
  var HTTPS_NOTE_SEEN = "jobgallery-https-note-seen";

  var root = form.getAttribute("data-root");
  var user = signedInAs();
  var pageId = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  var settings = { api: form.getAttribute("data-api"), token: csrfToken(), user: user };
  var maxBytes = Number(form.getAttribute("data-max-bytes"));
  var maxMb = form.getAttribute("data-max-mb");
  var geoEnabled = form.getAttribute("data-geo") === "on";
  var panel = document.getElementById("progress");
  var list = document.getElementById("queue");
  var summary = document.getElementById("summary");
  var badge = document.getElementById("badge");
  var message = document.getElementById("form-message");
  var signin = document.getElementById("signin");
  var select = form.elements.job_id;
  var elsewhere = document.getElementById("held-elsewhere");

  var done = []; // photos stored while this page was open: {id, name, text}
  var live = {}; // id -> {state, text, progress} while this page is working on it
  var counts = { stored: 0, already: 0, failed: 0 };
  var pendingGeo = null;
  var adding = Promise.resolve(); // the last choice's write to the queue, which Upload waits for
  var timer = null;
  var draining = false;
  var drainAgain = false; // asked to send while sending: look again right after
  var wakeAfterDrain = false; // the network came back while sending: clear every wait after
  var lastProblem = ""; // why the waiting photos wait, after a failed try
  var renderPending = false;
  var lastDrawn = ""; // the list's HTML as last drawn
  var lastElsewhere = ""; // the same for the box of photos held elsewhere
  var needSignin = false; // the last send found the sign-in ended
  var followTimer = null;

  // ------------------------------------------------------------ start

  preselectJob();
  showHttpsNote();
  registerWorker();
  Queue.setMeta("settings", settings);
  form.addEventListener("submit", onSubmit);
  Array.prototype.forEach.call(form.querySelectorAll("input[type=file]"), function (input) {
    input.addEventListener("change", onChosen);
  });
  list.addEventListener("click", onRowButton);
  elsewhere.addEventListener("click", onElsewhereButton);
  form.elements.description.addEventListener("input", followForm);
  form.elements.tags.addEventListener("input", followForm);
  select.addEventListener("change", followForm);
  window.addEventListener("online", onOnline);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      sendNow();
    }
  });
  if (window.BroadcastChannel) {
    new BroadcastChannel(Queue.CHANNEL).onmessage = function (event) {
      if (event.data && event.data.type === "report") {
        report(event.data.kind, event.data.record, { reason: event.data.reason });
      } else {
        renderSoon();
      }
    };
  }
  render().then(sendNow);

  function signedInAs() {
    var meta = document.querySelector("meta[name=upload-user]");
    return meta ? meta.getAttribute("content") : "";
  }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  // The worker's copy of the form may be older than the address: /upload?job=ID still picks the job.
  function preselectJob() {
    var wanted = new URLSearchParams(location.search).get("job");
    if (wanted && select.querySelector('option[value="' + CSS.escape(wanted) + '"]')) {
      select.value = wanted;
    }
  }

  function showHttpsNote() {
    var note = document.getElementById("https-note");
    if (window.isSecureContext || !note || localStorage.getItem(HTTPS_NOTE_SEEN)) {
      return;
    }
    note.hidden = false;
    note.querySelector("button").addEventListener("click", function () {
      localStorage.setItem(HTTPS_NOTE_SEEN, "1");
      note.hidden = true;
    });
  }

  function registerWorker() {
    if (!window.isSecureContext || !navigator.serviceWorker) {
      return;
    }
    navigator.serviceWorker
      .register(root + "/upload/sw.js", { scope: root + "/upload" })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (registration) {
        registration.active.postMessage({ type: "cache", urls: shellUrls() });
      })
      .catch(function () {
        // No worker (private mode, policy): the queue still works while the page is open.
      });
  }

  // What the form needs to open offline: this page's scripts, styles, icons and manifest.
  function shellUrls() {
    var urls = [];
    document.querySelectorAll("script[src], link[href]").forEach(function (element) {
      urls.push(element.src || element.href);
    });
    return urls;
  }

  // ------------------------------------------------------------ choosing and queueing

  function onChosen(event) {
    var input = event.target;
    var files = Array.prototype.slice.call(input.files);
    input.value = "";
    if (!files.length) {
      return;
    }
    var where = locate();
    var now = Date.now();
    var records = files.map(function (file) {
      return {
        file: file,
        name: file.name || "photo",
        size: file.size,
        takenAt: file.lastModified || now,
        queuedAt: now,
        job: select.value,
        jobTitle: jobTitle(),
        description: form.elements.description.value,
        tags: form.elements.tags.value,
        user: user,
        page: pageId,
        geo: null,
        state: "held",
        attempt: 0,
        notBefore: 0
      };
    });
    hideMessage();
    var added = Queue.add(records);
    adding = added.then(render, storageFailed);
    pendingGeo = Promise.all([added, where])
      .then(function (both) {
        var ids = both[0];
        var geo = both[1];
        if (!geo) {
          return null;
        }
        return Promise.all(
          ids.map(function (id) {
            return Queue.update(id, { geo: geo });
          })
        );
      })
      .catch(function () {
        return null; // not kept: storageFailed said so
      });
  }

  // Sending waits a little for the position asked for when the last photos were chosen.
  function positionSettled() {
    return Promise.race([
      pendingGeo || Promise.resolve(null),
      new Promise(function (resolve) {
        setTimeout(resolve, GEO_WAIT_MS, null);
      })
    ]);
  }

  // The phone's position now, or null (setting off, refused, no fix in time); the browser asks once.
  function locate() {
    if (!geoEnabled || !navigator.geolocation) {
      return Promise.resolve(null);
    }
    return new Promise(function (resolve) {
      navigator.geolocation.getCurrentPosition(
        function (position) {
          resolve({
            latitude: position.coords.latitude,
            longitude: position.coords.longitude,
            accuracy: position.coords.accuracy
          });
        },
        function () {
          resolve(null);
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function onSubmit(event) {
    event.preventDefault();
    adding.then(Queue.all).then(function (records) {
      var held = records.filter(heldHere);
      if (!held.length) {
        showMessage("Choose one or more photos first.");
        return null;
      }
      return release(held);
    });
  }

  // This page's held photos become waiting, with the form's job, description and tags (their position follows).
  function release(held) {
    var fields = Object.assign(formFields(), { state: "waiting", notBefore: 0 });
    return letGo(held, fields).then(function () {
      if (!document.getElementById("keep-fields").checked) {
        form.elements.description.value = "";
        form.elements.tags.value = "";
      }
    });
  }

  // Photos become waiting with `fields` (too large ones fail at once), and sending starts.
  function letGo(records, fields) {
    return Promise.all(
      records.map(function (record) {
        return Queue.update(record.id, tooLarge(record) ? tooLargeFields(fields) : fields);
      })
    ).then(function () {
      requestSync();
      return render().then(sendNow);
    }, storageFailed);
  }

  function formFields() {
    return {
      job: select.value,
      jobTitle: jobTitle(),
      description: form.elements.description.value,
      tags: form.elements.tags.value
    };
  }

  function jobTitle() {
    var option = select.options[select.selectedIndex];
    return option ? option.textContent : "";
  }

  // Picked here, by this user, Upload not pressed yet: the only photos this page's Upload sends.
  function heldHere(record) {
    return record.state === "held" && record.page === pageId && record.user === user;
  }

  // Picked by this user on another page or an earlier visit and never released.
  function heldElsewhere(record) {
    return record.state === "held" && record.page !== pageId && record.user === user;
  }

  // This page's held photos follow the form, so a photo left unsent keeps what was typed for it.
  function followForm() {
    clearTimeout(followTimer);
    followTimer = setTimeout(function () {
      adding.then(Queue.all).then(function (records) {
        var fields = formFields();
        return Promise.all(
          records.filter(heldHere).map(function (record) {
            return Queue.update(record.id, fields);
          })
        );
      });
    }, FOLLOW_DELAY_MS);
  }

  function tooLarge(record) {
    return maxBytes && record.size > maxBytes;
  }

  function tooLargeFields(fields) {
    var copy = Object.assign({}, fields);
    copy.state = "failed";
    copy.error = "Too large: at most " + maxMb + " MiB per photo.";
    return copy;
  }

  function requestSync() {
    if (!navigator.serviceWorker || !navigator.serviceWorker.controller) {
      return;
    }
    navigator.serviceWorker.ready
      .then(function (registration) {
        return registration.sync && registration.sync.register(Queue.SYNC_TAG);
      })
      .catch(function () {
        // No Background Sync here: the page sends while it is open.
      });
  }

  function storageFailed() {
    showMessage("This browser would not keep the photos (is its storage full?). Nothing was queued.");
  }

  // A refusal shown where the eye is: under the button, scrolled into view.
  function showMessage(text) {
    message.textContent = text;
    message.hidden = false;
    message.scrollIntoView({ block: "nearest" });
  }

  function hideMessage() {
    message.hidden = true;
  }

  // ------------------------------------------------------------ sending

  // Sends what is due; with no network at all it waits for the "online" event instead of counting failures.
  function sendNow() {
    if (draining) {
      drainAgain = true;
      return;
    }
    clearTimeout(timer);
    if (!navigator.onLine) {
      render();
      return;
    }
    draining = true;
    needSignin = false;
    signin.hidden = true;
    positionSettled()
      .then(function () {
        return Queue.drain({ settings: settings, send: sendWithProgress, report: report });
      })
      .then(afterDrain, function () {
        return { next: Date.now() + 30000 };
      })
      .then(function (result) {
        draining = false;
        render();
        if (wakeAfterDrain || drainAgain) {
          var wake = wakeAfterDrain;
          wakeAfterDrain = drainAgain = false;
          (wake ? Queue.wakeAll() : Promise.resolve()).then(sendNow);
        } else {
          schedule(result);
        }
      });
  }

  // The network is back: nothing waits any longer, even a photo whose wait a running send just set.
  function onOnline() {
    Queue.wakeAll().then(sendNow);
    wakeAfterDrain = draining;
  }

  function afterDrain(result) {
    if (result.signin) {
      var back = location.pathname + location.search;
      signin.querySelector("a").href = root + "/login?next=" + encodeURIComponent(back);
      signin.hidden = false;
    }
    return result;
  }

  function schedule(result) {
    if (result.busy) {
      timer = setTimeout(sendNow, 5000); // another tab or the worker is sending; look again soon
    } else if (result.next) {
      timer = setTimeout(sendNow, Math.max(0, result.next - Date.now()) + 50);
    }
  }

  function report(kind, record, detail) {
    if (kind === "retry") {
      retrying(detail);
      return;
    }
    if (kind === "signin") {
      live = {};
      needSignin = true;
      renderSoon();
      return;
    }
    if (!record) {
      return;
    }
    var texts = {
      hashing: "Checking",
      sending: "Sending",
      known: "Was already on the server (nothing sent)",
      stored: "Stored",
      duplicate: "Was already uploaded",
      twin: "The same photo is being sent: waits for its answer"
    };
    if (kind === "stored" || kind === "duplicate" || kind === "known") {
      delete live[record.id];
      done.push({ id: record.id, name: record.name, text: texts[kind] });
      counts[kind === "stored" ? "stored" : "already"] += 1;
    } else if (kind === "failed") {
      delete live[record.id];
      counts.failed += 1;
    } else {
      live[record.id] = { state: "sending", text: texts[kind], progress: kind === "sending" ? 0 : null };
    }
    renderSoon();
  }

  function retrying(detail) {
    live = {};
    lastProblem = detail.reason;
    renderSoon();
  }

  // One photo per request, by XMLHttpRequest for its upload progress.
  function sendWithProgress(record, sendSettings) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", sendSettings.api + encodeURIComponent(record.job) + "/images");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", sendSettings.token);
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable && live[record.id]) {
          live[record.id].progress = Math.min(99, Math.round((event.loaded * 100) / event.total));
          var bar = list.querySelector('li[data-id="' + record.id + '"] progress');
          if (bar) {
            bar.value = live[record.id].progress;
          }
        }
      };
      xhr.onload = function () {
        var body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (ignored) {
          body = null;
        }
        resolve({ status: xhr.status, body: body, retryAfter: xhr.getResponseHeader("Retry-After") });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        resolve({ status: 0, body: null, retryAfter: null });
      };
      xhr.send(Queue.formFor(record, sendSettings));
    });
  }

  // ------------------------------------------------------------ retry and discard

  function onRowButton(event) {
    var button = event.target.closest("button[data-action]");
    if (!button) {
      return;
    }
    var item = button.closest("li");
    var id = Number(item.getAttribute("data-id"));
    if (button.getAttribute("data-action") === "discard") {
      var name = item.querySelector(".name").textContent;
      if (window.confirm("Discard " + name + "? " + goneWarning(1))) {
        Queue.remove(id).then(render);
      }
    } else {
      Queue.update(id, { state: "waiting", error: "", attempt: 0, notBefore: 0 }).then(function () {
        render().then(sendNow);
      });
    }
  }

  // Discarding cannot be undone: the photo may exist nowhere else.
  function goneWarning(count) {
    return (count === 1 ? "It has" : "They have") + " not been sent and will be gone from this phone.";
  }

  // ------------------------------------------------------------ photos held elsewhere and other users' photos

  function byThisUser(record) {
    return record.user === user;
  }

  function notByThisUser(record) {
    return record.user !== user;
  }

  // At the top: this user's photos held by another page or visit (per job), and other users' photos (per user).
  function drawElsewhere(held, others) {
    var items = groupBy(held, function (record) {
      return String(record.job);
    }).map(function (group) {
      var title = jobName(group[0]);
      var text = photoCount(group.length) + " picked earlier for “" + title + "” " + verb(group, "was", "were");
      var item = notice(text + " not sent.");
      item.appendChild(actionButton("send", "Send to " + title, String(group[0].job)));
      item.appendChild(actionButton("discard", "Discard", String(group[0].job)));
      return item;
    });
    groupBy(others, ownerOf).forEach(function (group) {
      var name = ownerOf(group[0]) || "an earlier user";
      var item = notice(
        photoCount(group.length) + " picked by " + name + " " + verb(group, "waits", "wait") + " for " + name +
          " to sign in."
      );
      item.appendChild(actionButton("discard-user", "Discard", ownerOf(group[0])));
      items.push(item);
    });
    var drawn = items
      .map(function (item) {
        return item.outerHTML;
      })
      .join("");
    if (drawn !== lastElsewhere) {
      lastElsewhere = drawn;
      elsewhere.textContent = "";
      items.forEach(function (item) {
        elsewhere.appendChild(item);
      });
    }
    elsewhere.hidden = !items.length;
  }

  function ownerOf(record) {
    return record.user || "";
  }

  function groupBy(records, keyOf) {
    var order = [];
    var groups = {};
    records.forEach(function (record) {
      var key = keyOf(record);
      if (!groups[key]) {
        groups[key] = [];
        order.push(key);
      }
      groups[key].push(record);
    });
    return order.map(function (key) {
      return groups[key];
    });
  }

  function photoCount(count) {
    return count + (count === 1 ? " photo" : " photos");
  }

  function verb(group, one, many) {
    return group.length === 1 ? one : many;
  }

  function notice(text) {
    var item = document.createElement("li");
    var words = document.createElement("span");
    words.className = "what";
    words.textContent = text;
    item.appendChild(words);
    return item;
  }

  // "Send to <job>" keeps each photo's own job, description and tags; "Discard" drops the group.
  function onElsewhereButton(event) {
    var button = event.target.closest("button[data-action]");
    if (!button) {
      return;
    }
    var action = button.getAttribute("data-action");
    var key = button.getAttribute("data-key");
    Queue.all().then(function (records) {
      var chosen = records.filter(function (record) {
        if (action === "discard-user") {
          return notByThisUser(record) && ownerOf(record) === key;
        }
        return heldElsewhere(record) && String(record.job) === key;
      });
      if (action === "send") {
        return letGo(chosen, { state: "waiting", notBefore: 0 });
      }
      if (!chosen.length || !window.confirm(discardGroupQuestion(action, key, chosen))) {
        return null;
      }
      return Promise.all(
        chosen.map(function (record) {
          return Queue.remove(record.id);
        })
      ).then(render);
    });
  }

  function discardGroupQuestion(action, key, chosen) {
    var whose =
      action === "discard-user"
        ? "picked by " + (key || "an earlier user")
        : "picked earlier for “" + jobName(chosen[0]) + "”";
    return "Discard " + photoCount(chosen.length) + " " + whose + "? " + goneWarning(chosen.length);
  }

  // ------------------------------------------------------------ showing the queue

  // Many changes arrive at once while a batch is hashed or sent: draw the list once for all of them.
  function renderSoon() {
    if (!renderPending) {
      renderPending = true;
      setTimeout(function () {
        renderPending = false;
        render();
      }, RENDER_DELAY_MS);
    }
  }

  // Redraws the list only when a row changed, so rows (and a finger on a Retry button) stay put.
  function render() {
    return Queue.all().then(function (records) {
      var mine = records.filter(byThisUser);
      drawElsewhere(mine.filter(heldElsewhere), records.filter(notByThisUser));
      var rows = mine
        .filter(function (record) {
          return !heldElsewhere(record);
        })
        .map(queuedRow);
      done.forEach(function (item) {
        rows.push(row(item.id, item.name, "done", item.text, 100));
      });
      var drawn = rows
        .map(function (item) {
          return item.outerHTML;
        })
        .join("");
      if (drawn !== lastDrawn) {
        lastDrawn = drawn;
        list.textContent = "";
        rows.forEach(function (item) {
          list.appendChild(item);
        });
      }
      panel.hidden = !rows.length;
      showCounts(mine, records.length - mine.length);
    });
  }

  // Every queued row names its job; only a photo whose bytes are on their way cannot be discarded.
  function queuedRow(record) {
    var now = live[record.id];
    var item;
    if (record.state === "failed") {
      item = row(record.id, record.name, "failed", "Not stored: " + record.error, null);
    } else if (record.state === "held") {
      item = row(record.id, record.name, "held", "Chosen: press Upload photos to send it", null);
    } else if (now) {
      item = row(record.id, record.name, now.state, now.text, now.progress);
    } else {
      item = row(record.id, record.name, "waiting", waitingText(record), null);
    }
    item.insertBefore(jobLine(record), item.querySelector(".name").nextSibling);
    if (!now || now.progress === null) {
      item.appendChild(actions(record.state === "failed"));
    }
    return item;
  }

  function jobLine(record) {
    var line = document.createElement("span");
    line.className = "job";
    line.textContent = "For “" + jobName(record) + "”";
    return line;
  }

  function jobName(record) {
    return record.jobTitle || "job " + record.job;
  }

  function waitingText(record) {
    if (!navigator.onLine) {
      return "Waiting for a connection";
    }
    if (needSignin) {
      return "Waiting for sign-in";
    }
    var seconds = Math.round(((record.notBefore || 0) - Date.now()) / 1000);
    if (seconds > 0) {
      return (lastProblem || "Waiting") + "; next try in " + seconds + " s";
    }
    return "Waiting to be sent";
  }

  function row(id, name, state, text, progress) {
    var item = document.createElement("li");
    var title = document.createElement("span");
    var status = document.createElement("span");
    item.setAttribute("data-id", id);
    item.setAttribute("data-state", state);
    title.className = "name";
    title.textContent = name;
    status.className = "state";
    status.textContent = text;
    item.appendChild(title);
    if (progress !== null) {
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = progress;
      bar.setAttribute("aria-label", "Upload of " + name);
      item.appendChild(bar);
    }
    item.appendChild(status);
    return item;
  }

  function actions(retry) {
    var box = document.createElement("span");
    box.className = "actions";
    if (retry) {
      box.appendChild(actionButton("retry", "Retry"));
    }
    box.appendChild(actionButton("discard", "Discard"));
    return box;
  }

  function actionButton(action, text, key) {
    var button = document.createElement("button");
    button.type = "button";
    button.setAttribute("data-action", action);
    if (key !== undefined) {
      button.setAttribute("data-key", key);
    }
    button.textContent = text;
    return button;
  }

  // "waiting" counts only what this page sends by itself; photos that wait for Upload, "Send to" or another
  // user's sign-in (`others` of them) are "held".
  function showCounts(records, others) {
    var waiting = records.filter(isState("waiting")).length;
    var failed = records.filter(isState("failed")).length;
    var held = records.filter(isState("held")).length + others;
    badge.textContent =
      waiting + " waiting" + (held ? ", " + held + " held" : "") + (failed ? ", " + failed + " failed" : "");
    badge.hidden = !(records.length + others);
    badge.setAttribute("data-waiting", waiting);
    if (counts.stored + counts.already + counts.failed) {
      summary.textContent =
        counts.stored + " stored, " + counts.already + " already there, " + counts.failed + " failed." +
        (waiting ? "" : " Nothing is waiting.");
      galleryLink(waiting);
    }
  }

  function isState(state) {
    return function (record) {
      return record.state === state;
    };
  }

  function galleryLink(waiting) {
    var option = select.options[select.selectedIndex];
    var gallery = option && option.getAttribute("data-gallery");
    if (!waiting && counts.stored && gallery) {
      var link = document.createElement("a");
      link.href = gallery;
      link.textContent = " Open the job's gallery";
      summary.appendChild(link);
    }
  }
})();

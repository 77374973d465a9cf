/*
 * The upload queue: every chosen photo is kept in IndexedDB (the file itself,
 * its job, description, tags, the phone's position and when it was taken)
 * and leaves it only when the server has answered 200/201 with JSON saying it
 * stored the photo. The form (form.js) and its service worker (sw.js, for
 * Background Sync) both load this file; it defines self.UploadQueue.
 *
 * A photo record: {id, file (Blob), name, size, takenAt and queuedAt (ms since
 * 1970), job, jobTitle, description, tags (as on the form when it was picked,
 * kept up to date while it is held), geo ({latitude, longitude, accuracy} or
 * null), user (who was signed in when it was picked), page (the id of the
 * page that picked it: Upload releases only that page's picks), state
 * ("held": chosen, Upload not pressed yet; "waiting"; "failed"), error (a
 * sentence), attempt (failed tries so far), notBefore (ms; not sent earlier),
 * sha256 (hex, once computed)}.
 *
 * Only photos picked by the signed-in user (settings.user) are ever sent:
 * another user's photos wait for that user to sign in again on this phone.
 *
 * Sending (drain) takes one lock across tabs and the worker, hashes the
 * waiting photos (WebCrypto, or the vendored js-sha256 outside a secure
 * context), asks POST /api/jobs/<id>/known which the job already has (those
 * leave the queue without sending a byte), then sends the rest one photo per
 * request. The same photo twice in one job is sent once: the second waits
 * for the first's answer and is then found known without sending a byte.
 * Network errors, 5xx, 408, 429 and 503 wait and try again: 1 s,
 * 2 s, 4 s ... up to 5 min, or longer when Retry-After asks. 401 and 403
 * (sign-in ended, or the page's CSRF token is stale) stop sending and keep
 * every photo. Any other refusal (400, 404, 413, 415, 422) marks the photo
 * failed with the server's sentence, to retry or discard by hand.
 */
(function (scope) {
  "use strict";

  var DB_NAME = "jobgallery-upload";
  var PHOTOS = "photos";
  var META = "meta";
  var WAITS = [1, 2, 4, 8, 15, 30, 60, 120, 300];
  var MAX_RETRY_AFTER = 900;
  var KNOWN_AT_ONCE = 500;
  var HASH_SLICE = 4 * 1024 * 1024;
  var LOCK = "jobgallery-upload-send";
  var CHANNEL = "jobgallery-upload";
  var SYNC_TAG = "jobgallery-upload";

  // The lease that stands in for Web Locks: long enough for a hidden tab's throttled timers to renew it.
  var LEASE = "send-lease";
  var LEASE_MS = 90000;
  var LEASE_RENEW_MS = 10000;
  var HOLDER = String(Date.now()) + "-" + String(Math.random()).slice(2);

  var opened = null;
  var sendingHere = false;
  var channel = scope.BroadcastChannel ? new scope.BroadcastChannel(CHANNEL) : null;

  // ------------------------------------------------------------ IndexedDB

  function open() {
    if (!opened) {
      opened = new Promise(function (resolve, reject) {
        var request = scope.indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore(PHOTOS, { keyPath: "id", autoIncrement: true });
          request.result.createObjectStore(META);
        };
        request.onsuccess = function () {
          resolve(request.result);
        };
        request.onerror = function () {
          opened = null;
          reject(request.error);
        };
      });
    }
    return opened;
  }

  // One request in its own transaction; resolves with the request's result once the transaction is durable.
  function run(store, mode, makeRequest) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var request = makeRequest(tx.objectStore(store));
        tx.oncomplete = function () {
          resolve(request.result);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error || request.error);
        };
      });
    });
  }

  function all() {
    return run(PHOTOS, "readonly", function (store) {
      return store.getAll();
    });
  }

  function get(id) {
    return run(PHOTOS, "readonly", function (store) {
      return store.get(id);
    });
  }

  function add(records) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(PHOTOS, "readwrite");
        var ids = [];
        records.forEach(function (record, index) {
          tx.objectStore(PHOTOS).add(record).onsuccess = function (event) {
            ids[index] = event.target.result;
          };
        });
        tx.oncomplete = function () {
          changed();
          resolve(ids);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
      });
    });
  }

  // Applies changes to a record that is still queued; resolves with the new record, or null if it left.
  function update(id, changes) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(PHOTOS, "readwrite");
        var store = tx.objectStore(PHOTOS);
        var result = null;
        store.get(id).onsuccess = function (event) {
          var record = event.target.result;
          if (record) {
            Object.keys(changes).forEach(function (key) {
              record[key] = changes[key];
            });
            store.put(record);
            result = record;
          }
        };
        tx.oncomplete = function () {
          changed();
          resolve(result);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
      });
    });
  }

  function remove(id) {
    return run(PHOTOS, "readwrite", function (store) {
      return store.delete(id);
    }).then(changed);
  }

  function getMeta(key) {
    return run(META, "readonly", function (store) {
      return store.get(key);
    });
  }

  function setMeta(key, value) {
    return run(META, "readwrite", function (store) {
      return store.put(value, key);
    });
  }

  // Tells other tabs (and the worker) to look at the queue again.
  function changed() {
    if (channel) {
      channel.postMessage({ type: "changed" });
    }
  }

  // A report of the worker's sending, for the open forms to show (stored, already there, failed).
  function announce(kind, record, detail) {
    if (channel && record) {
      channel.postMessage({
        type: "report",
        kind: kind,
        record: { id: record.id, name: record.name, job: record.job },
        reason: detail && detail.reason
      });
    }
  }

  // ------------------------------------------------------------ hashing

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  function readSlice(blob) {
    return blob.arrayBuffer
      ? blob.arrayBuffer()
      : new Promise(function (resolve, reject) {
          var reader = new FileReader();
          reader.onload = function () {
            resolve(reader.result);
          };
          reader.onerror = function () {
            reject(reader.error);
          };
          reader.readAsArrayBuffer(blob);
        });
  }

  // SHA-256 of a Blob as lowercase hex: WebCrypto in a secure context, else js-sha256 a slice at a time.
  function digest(blob) {
    if (scope.crypto && scope.crypto.subtle) {
      return readSlice(blob).then(function (buffer) {
        return scope.crypto.subtle.digest("SHA-256", buffer).then(hex);
      });
    }
    if (!scope.sha256) {
      return Promise.reject(new Error("this browser cannot compute SHA-256"));
    }
    var hash = scope.sha256.create();
    function step(offset) {
      if (offset >= blob.size) {
        return Promise.resolve(hash.hex());
      }
      return readSlice(blob.slice(offset, offset + HASH_SLICE)).then(function (buffer) {
        hash.update(buffer);
        return step(offset + HASH_SLICE);
      });
    }
    return step(0);
  }

  // ------------------------------------------------------------ answers

  function retryAfterSeconds(value) {
    var seconds = parseInt(value, 10);
    return seconds > 0 ? Math.min(seconds, MAX_RETRY_AFTER) : 0;
  }

  function errorSentence(body, status) {
    if (body && typeof body.error === "string" && body.error) {
      return /[.!?]$/.test(body.error) ? body.error : body.error + ".";
    }
    return "The server refused it (error " + status + ").";
  }

  // What an answer means for the queue: {kind: stored|duplicate|retry|signin|failed, reason, wait}.
  function judge(answer) {
    var status = answer.status;
    var body = answer.body;
    if ((status === 200 || status === 201) && body && Array.isArray(body.images) && body.images.length) {
      var duplicate = body.images.every(function (image) {
        return image.duplicate;
      });
      return { kind: duplicate ? "duplicate" : "stored" };
    }
    if (status === 401 || status === 403) {
      return { kind: "signin", reason: errorSentence(body, status) };
    }
    if (status === 429 || status === 503) {
      return { kind: "retry", reason: "The server is busy", wait: retryAfterSeconds(answer.retryAfter) };
    }
    if (status === 0) {
      return { kind: "retry", reason: "No connection", wait: 0 };
    }
    if (status >= 500 || status === 408 || status < 400) {
      return { kind: "retry", reason: "The server had a problem (error " + status + ")", wait: 0 };
    }
    return { kind: "failed", reason: errorSentence(body, status) };
  }

  function waitFor(attempt, atLeast) {
    return Math.max(WAITS[Math.min(attempt, WAITS.length - 1)], atLeast || 0);
  }

  // ------------------------------------------------------------ talking to the server

  function fetchAnswer(url, options) {
    return scope.fetch(url, options).then(
      function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (ignored) {
            body = null;
          }
          return { status: response.status, body: body, retryAfter: response.headers.get("Retry-After") };
        });
      },
      function () {
        return { status: 0, body: null, retryAfter: null };
      }
    );
  }

  function askKnown(settings, job, hashes) {
    return fetchAnswer(settings.api + encodeURIComponent(job) + "/known", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": settings.token },
      body: JSON.stringify({ sha256: hashes })
    });
  }

  function formFor(record, settings) {
    var data = new FormData();
    data.append("image", record.file, record.name || "photo");
    data.append("description", record.description || "");
    data.append("tags", record.tags || "");
    data.append("csrf_token", settings.token);
    if (record.geo) {
      data.append("geo_latitude", String(record.geo.latitude));
      data.append("geo_longitude", String(record.geo.longitude));
      data.append("geo_accuracy_m", String(Math.round(record.geo.accuracy * 10) / 10));
    }
    return data;
  }

  // The worker's way to send (no upload progress there); the form passes its own, with progress.
  function fetchSend(record, settings) {
    return fetchAnswer(settings.api + encodeURIComponent(record.job) + "/images", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": settings.token },
      body: formFor(record, settings)
    });
  }

  // ------------------------------------------------------------ draining the queue

  function groupByJob(records) {
    var groups = {};
    records.forEach(function (record) {
      (groups[record.job] = groups[record.job] || []).push(record);
    });
    return groups;
  }

  function hashAll(records, report) {
    return records.reduce(function (chain, record) {
      return chain.then(function () {
        if (record.sha256) {
          return null;
        }
        report("hashing", record);
        return digest(record.file).then(function (sum) {
          record.sha256 = sum;
          return update(record.id, { sha256: sum });
        });
      });
    }, Promise.resolve());
  }

  // Asks which photos each job already has; those leave the queue. Resolves with what is left to send.
  function dropKnown(records, settings, report) {
    var groups = groupByJob(records);
    var left = [];
    return Object.keys(groups)
      .reduce(function (chain, job) {
        return chain.then(function () {
          return dropKnownInJob(job, groups[job], settings, report).then(function (rest) {
            left = left.concat(rest);
          });
        });
      }, Promise.resolve())
      .then(function () {
        return left;
      });
  }

  function dropKnownInJob(job, records, settings, report) {
    var batches = [];
    for (var i = 0; i < records.length; i += KNOWN_AT_ONCE) {
      batches.push(records.slice(i, i + KNOWN_AT_ONCE));
    }
    var left = [];
    return batches
      .reduce(function (chain, batch) {
        return chain.then(function () {
          var hashes = batch.map(function (record) {
            return record.sha256;
          });
          return askKnown(settings, job, hashes).then(function (answer) {
            if (answer.status !== 200 || !answer.body || !Array.isArray(answer.body.known)) {
              // Unknown job or a refusal: sending each photo gives each its own answer.
              var verdict = judge(answer);
              if (verdict.kind === "signin" || verdict.kind === "retry") {
                throw verdict;
              }
              left = left.concat(batch);
              return null;
            }
            return settleKnown(batch, answer.body.known, report).then(function (rest) {
              left = left.concat(rest);
            });
          });
        });
      }, Promise.resolve())
      .then(function () {
        return left;
      });
  }

  function settleKnown(batch, known, report) {
    var have = {};
    known.forEach(function (sum) {
      have[String(sum).toLowerCase()] = true;
    });
    var rest = [];
    return Promise.all(
      batch.map(function (record) {
        if (!have[record.sha256]) {
          rest.push(record);
          return null;
        }
        return remove(record.id).then(function () {
          report("known", record);
        });
      })
    ).then(function () {
      return rest;
    });
  }

  function settle(record, verdict, report) {
    if (verdict.kind === "stored" || verdict.kind === "duplicate") {
      return remove(record.id).then(function () {
        report(verdict.kind, record);
      });
    }
    if (verdict.kind === "failed") {
      return update(record.id, { state: "failed", error: verdict.reason }).then(function () {
        report("failed", record, verdict);
      });
    }
    throw verdict;
  }

  // One photo per request; a second copy of a photo already sent in this pass waits for the next pass's /known.
  function sendEach(records, settings, send, report) {
    var sent = {};
    return records.reduce(function (chain, record) {
      return chain.then(function () {
        return get(record.id).then(function (current) {
          if (!current || current.state !== "waiting") {
            return null; // discarded or changed meanwhile
          }
          var key = current.job + " " + current.sha256;
          if (sent[key]) {
            report("twin", current);
            return null;
          }
          sent[key] = true;
          report("sending", current);
          return send(current, settings, report).then(function (answer) {
            return settle(current, judge(answer), report);
          });
        });
      });
    }, Promise.resolve());
  }

  // After a "retry" verdict every waiting photo waits; the first one that was due carries the attempt count.
  function postpone(records, verdict, report) {
    var attempt = records.length ? records[0].attempt || 0 : 0;
    var seconds = waitFor(attempt, verdict.wait);
    var notBefore = Date.now() + seconds * 1000;
    return Promise.all(
      records.map(function (record) {
        return update(record.id, { attempt: attempt + 1, notBefore: notBefore });
      })
    ).then(function () {
      report("retry", null, { reason: verdict.reason, seconds: seconds, notBefore: notBefore });
    });
  }

  /*
   * Sends what is due. options: {settings: {api, token, user}, send(record, settings, report) -> Promise<answer>,
   * report(kind, record, detail)}. Resolves with {signin, reason, next (ms of the next due photo or null)}.
   */
  function drain(options) {
    var report = options.report || function () {};
    var send = options.send || fetchSend;
    var user = options.settings.user;
    return all().then(function (records) {
      var now = Date.now();
      var waiting = records.filter(waitingFor(user));
      var due = waiting.filter(function (record) {
        return !record.notBefore || record.notBefore <= now;
      });
      if (!due.length) {
        return { next: nextDue(waiting) };
      }
      return hashAll(due, report)
        .then(function () {
          return dropKnown(due, options.settings, report);
        })
        .then(function (rest) {
          return sendEach(rest, options.settings, send, report);
        })
        .then(
          function () {
            return drain(options);
          },
          function (verdict) {
            return stopped(verdict, user, report);
          }
        );
    });
  }

  function stopped(verdict, user, report) {
    if (verdict && verdict.kind === "signin") {
      report("signin", null, verdict);
      return { signin: true, reason: verdict.reason };
    }
    if (verdict && verdict.kind === "retry") {
      return all().then(function (records) {
        var waiting = records.filter(waitingFor(user));
        return postpone(waiting, verdict, report).then(function () {
          return all().then(function (after) {
            return { next: nextDue(after.filter(waitingFor(user))) };
          });
        });
      });
    }
    throw verdict;
  }

  function isWaiting(record) {
    return record.state === "waiting";
  }

  // Photos another user picked on this phone are never sent under this user's sign-in.
  function waitingFor(user) {
    return function (record) {
      return isWaiting(record) && record.user === user;
    };
  }

  function nextDue(waiting) {
    var times = waiting.map(function (record) {
      return record.notBefore || 0;
    });
    return times.length ? Math.min.apply(null, times) : null;
  }

  // drain() under a lock shared by every tab and the worker; resolves with {busy: true} when another holds it.
  function drainOnce(options) {
    if (scope.navigator && scope.navigator.locks) {
      return scope.navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
        return lock ? drain(options) : { busy: true };
      });
    }
    return drainLeased(options);
  }

  // Without Web Locks (plain HTTP is no secure context) the tabs agree through a lease in IndexedDB.
  function drainLeased(options) {
    if (sendingHere) {
      return Promise.resolve({ busy: true });
    }
    sendingHere = true;
    return takeLease().then(function (taken) {
      if (!taken) {
        sendingHere = false;
        return { busy: true };
      }
      var renewal = setInterval(takeLease, LEASE_RENEW_MS);
      function release() {
        clearInterval(renewal);
        sendingHere = false;
        return dropLease();
      }
      return drain(options).then(
        function (result) {
          return release().then(function () {
            return result;
          });
        },
        function (error) {
          return release().then(function () {
            throw error;
          });
        }
      );
    });
  }

  // Reads and writes the lease in one readwrite transaction, which IndexedDB runs alone across tabs.
  function withLease(decide) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(META, "readwrite");
        var store = tx.objectStore(META);
        var outcome = false;
        store.get(LEASE).onsuccess = function (event) {
          outcome = decide(event.target.result, store);
        };
        tx.oncomplete = function () {
          resolve(outcome);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
      });
    });
  }

  // Taken when free, run out (a closed tab's) or already this page's; renewed while sending.
  function takeLease() {
    return withLease(function (lease, store) {
      var now = Date.now();
      if (lease && lease.holder !== HOLDER && lease.until > now) {
        return false;
      }
      store.put({ holder: HOLDER, until: now + LEASE_MS }, LEASE);
      return true;
    });
  }

  function dropLease() {
    return withLease(function (lease, store) {
      if (lease && lease.holder === HOLDER) {
        store.delete(LEASE);
      }
      return true;
    });
  }

  // Everything waiting may go now (the network came back, or the crew pressed Retry).
  function wakeAll() {
    return all().then(function (records) {
      return Promise.all(
        records.filter(isWaiting).map(function (record) {
          return update(record.id, { notBefore: 0 });
        })
      );
    });
  }

  // A page that goes away gives its lease back, so a reload sends at once instead of after the lease runs out.
  if (scope.document) {
    scope.addEventListener("pagehide", function () {
      if (sendingHere) {
        dropLease();
      }
    });
  }

  scope.UploadQueue = {
    SYNC_TAG: SYNC_TAG,
    CHANNEL: CHANNEL,
    all: all,
    add: add,
    update: update,
    remove: remove,
    getMeta: getMeta,
    setMeta: setMeta,
    formFor: formFor,
    drain: drainOnce,
    announce: announce,
    wakeAll: wakeAll
  };
})(self);

/*
 * The upload form's service worker, served as /upload/sw.js with
 * Service-Worker-Allowed: /upload and registered with that scope, so it
 * controls /upload and /upload?job=ID.
 *
 * Offline shell: the form's page is fetched from the network first (a slow
 * network gets a few seconds) and its last good copy is kept; without a
 * network that copy answers for /upload with any query. The page sends the
 * addresses of its scripts, styles, icons and manifest ("cache" message);
 * those are kept too and answered from the cache first (their names carry a
 * content hash). Posts and the API always go to the network. The copy shows
 * who is signed in, so it is dropped when the server answers the page with a
 * redirect (to /login) or 401/403; the page drops it too when signing out.
 *
 * Background Sync ("jobgallery-upload"): sends the queue (queue.js) with
 * fetch, even when no tab is open. A tab that is sending holds the same
 * lock, so a photo is never sent twice at once; if anything still waits,
 * the sync fails and the browser tries it again later.
 */
/* global UploadQueue */
"use strict";

importScripts("static/upload/queue.js");

var CACHE = "jobgallery-upload-shell-1";
var SHELL_TIMEOUT_MS = 4000;
var ROOT = new URL(self.registration.scope).pathname.replace(/\/upload$/, "");
var SHELL = ROOT + "/upload";
var STATIC = ROOT + "/upload/static/";
var MANIFEST = ROOT + "/upload/manifest.webmanifest";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (names) {
        return Promise.all(
          names
            .filter(function (name) {
              return name !== CACHE;
            })
            .map(function (name) {
              return caches.delete(name);
            })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "cache" && Array.isArray(event.data.urls)) {
    event.waitUntil(keep(event.data.urls.filter(isShellFile)));
  }
});

function isShellFile(address) {
  var url = new URL(address, self.location.href);
  return url.origin === self.location.origin && (url.pathname.indexOf(STATIC) === 0 || url.pathname === MANIFEST);
}

// Keeps the files the current form uses and lets go of older versions of them (the shell page stays).
function keep(urls) {
  var wanted = urls.map(function (url) {
    return new URL(url, self.location.href).href;
  });
  return caches.open(CACHE).then(function (cache) {
    var fetched = Promise.all(
      wanted.map(function (url) {
        return cache.match(url).then(function (hit) {
          return hit || fetchAndKeep(cache, new Request(url, { credentials: "same-origin" }));
        });
      })
    );
    return fetched.then(function () {
      return cache.keys().then(function (requests) {
        return Promise.all(
          requests
            .filter(function (request) {
              return isShellFile(request.url) && wanted.indexOf(request.url) < 0;
            })
            .map(function (request) {
              return cache.delete(request);
            })
        );
      });
    });
  });
}

function fetchAndKeep(cache, request) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      cache.put(request, response.clone());
    }
    return response;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (url.pathname === SHELL && request.mode === "navigate") {
    event.respondWith(shell(request));
  } else if (url.pathname.indexOf(STATIC) === 0 || url.pathname === MANIFEST) {
    event.respondWith(cacheFirst(request));
  }
});

// The page from the network when it answers in time (and keep a copy), else the last copy.
function shell(request) {
  var network = fetch(request).then(function (response) {
    var html = (response.headers.get("Content-Type") || "").indexOf("text/html") === 0;
    if (response.status === 200 && !response.redirected && html) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) {
        return cache.put(SHELL, copy);
      });
    } else if (signedOut(response)) {
      caches.open(CACHE).then(function (cache) {
        return cache.delete(SHELL);
      });
    }
    return response;
  });
  var late = new Promise(function (resolve, reject) {
    setTimeout(reject, SHELL_TIMEOUT_MS);
  });
  return Promise.race([network, late]).catch(function () {
    return caches.match(SHELL).then(function (hit) {
      return hit || network;
    });
  });
}

// The server sent the form's visitor elsewhere (a navigation's redirect is opaque here) or refused them.
function signedOut(response) {
  return response.type === "opaqueredirect" || response.redirected || response.status === 401 || response.status === 403;
}

function cacheFirst(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      return hit || fetchAndKeep(cache, request);
    });
  });
}

self.addEventListener("sync", function (event) {
  if (event.tag === UploadQueue.SYNC_TAG) {
    event.waitUntil(sendQueue());
  }
});

// A visible form sends by itself (with progress); the worker sends when none is in view (phone locked, tab closed).
function sendQueue() {
  return Promise.all([self.clients.matchAll({ type: "window" }), UploadQueue.getMeta("settings")]).then(
    function (found) {
      var visible = found[0].some(function (client) {
        return client.visibilityState === "visible";
      });
      if (visible || !found[1]) {
        return null;
      }
      return UploadQueue.drain({ settings: found[1], report: UploadQueue.announce }).then(function (result) {
        if (result.busy || result.next) {
          throw new Error("photos still wait; the browser will sync again");
        }
        return null;
      });
    }
  );
}

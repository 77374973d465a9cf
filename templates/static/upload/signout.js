/*
 * "Sign out" on the upload form. With photos picked by this user still on
 * the phone it asks first (they stay until the user signs in here again:
 * released ones are sent then, held ones wait for "Send to" or Discard).
 * Then it drops the service worker's copy of the form (it shows "Signed in
 * as" this user, and would open offline for the next one) and the
 * queue's sending settings (this sign-in's CSRF token), and signs out.
 */
(function () {
  "use strict";

  var SHELL_CACHE = "jobgallery-upload-shell";
  var Queue = window.UploadQueue;
  if (!Queue || !window.indexedDB || !window.Promise) {
    return;
  }
  watchSignOut();

  function signedInAs() {
    var meta = document.querySelector("meta[name=upload-user]");
    return meta ? meta.getAttribute("content") : "";
  }

  function photoCount(count) {
    return count + (count === 1 ? " photo" : " photos");
  }

  // Signing out with photos on the phone asks first; then the worker's copy of this page and the sender's
  // settings are dropped, so the next user neither sees "Signed in as" this user nor sends with this sign-in.
  function watchSignOut() {
    var signOut = document.querySelector("form.sign-out");
    if (!signOut) {
      return;
    }
    signOut.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = signedInAs();
      Queue.all()
        .catch(function () {
          return [];
        })
        .then(function (records) {
          var left = records.filter(function (record) {
            return record.user === name;
          }).length;
          if (left && !window.confirm(signOutWarning(left, name))) {
            return null;
          }
          return forgetSignIn(new URL(signOut.action).pathname.replace(/\/logout$/, "")).then(function () {
            signOut.submit();
          });
        });
    });
  }

  function signOutWarning(count, name) {
    return (
      photoCount(count) + " picked by " + name + (count === 1 ? " has" : " have") + " not been sent. " +
      "They stay on this phone until " + name + " signs in here again, to be sent or discarded then. " +
      "Sign out anyway?"
    );
  }

  function forgetSignIn(base) {
    var dropped = window.caches
      ? caches.keys().then(function (names) {
          return Promise.all(
            names
              .filter(function (name) {
                return name.indexOf(SHELL_CACHE) === 0;
              })
              .map(function (name) {
                return caches.open(name).then(function (cache) {
                  return cache.delete(base + "/upload", { ignoreSearch: true });
                });
              })
          );
        })
      : Promise.resolve();
    return Promise.all([dropped, Queue.setMeta("settings", null)]).catch(function () {
      return null; // signing out goes ahead; the worker also drops its copy when the server sends it to /login
    });
  }
})();

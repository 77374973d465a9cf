/* Lightbox for a job's gallery page.
 *
 * The page works without this script: every thumbnail is a link to its display
 * image. With it, a click opens the photo in a modal dialog over the page
 * (focus moves in and stays in, the page behind is inert); arrow keys and
 * swipes move, Esc, Close or the Back button close. Opening pushes one history
 * entry and moving replaces it, so Back closes the photo instead of leaving.
 * The address carries #photo-<id> so a link opens that photo. Captions are
 * copied with textContent from the page, never as HTML.
 */
(function () {
  "use strict";

  var gallery = document.querySelector("[data-lightbox]");
  if (!gallery) {
    return;
  }
  var links = Array.prototype.slice.call(gallery.querySelectorAll("a.photo-link"));
  var main = document.querySelector("main");
  var box = null;
  var image = null;
  var status = null;
  var counter = null;
  var caption = null;
  var closer = null;
  var prev = null;
  var next = null;
  var current = -1;
  var opener = null;
  var touchStart = null;

  function photoId(link) {
    return link.closest("li").id;
  }

  function textOf(element) {
    return element ? element.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function captionOf(link) {
    var figure = link.closest("figure");
    var tags = Array.prototype.map.call(figure.querySelectorAll(".tags li"), textOf).join(", ");
    var parts = [textOf(figure.querySelector(".description")), tags, textOf(figure.querySelector("time"))];
    return parts.filter(Boolean).join(" \u00b7 ");
  }

  function element(tag, className) {
    var made = document.createElement(tag);
    made.className = className;
    return made;
  }

  function button(className, label, symbol, action) {
    var made = element("button", className);
    made.type = "button";
    made.setAttribute("aria-label", label);
    made.textContent = symbol;
    made.addEventListener("click", function (event) {
      event.stopPropagation();
      action();
    });
    return made;
  }

  function build() {
    box = element("div", "lightbox");
    box.id = "lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "Photo viewer");
    box.setAttribute("aria-describedby", "lightbox-caption");
    box.hidden = true;
    image = element("img", "lightbox-image");
    image.addEventListener("load", loaded);
    image.addEventListener("error", function () {
      status.textContent = "This photo could not be loaded.";
    });
    status = element("p", "lightbox-status");
    counter = element("p", "lightbox-counter");
    caption = element("p", "lightbox-caption");
    caption.id = "lightbox-caption";
    closer = button("lightbox-close", "Close", "\u00d7", close);
    prev = button("lightbox-prev", "Previous photo", "\u2039", function () { step(-1); });
    next = button("lightbox-next", "Next photo", "\u203a", function () { step(1); });
    box.append(closer, counter, image, status, caption, prev, next);
    box.addEventListener("click", function (event) {
      if (event.target === box) {
        close();
      }
    });
    box.addEventListener("touchstart", function (event) {
      touchStart = event.changedTouches[0];
    }, { passive: true });
    box.addEventListener("touchend", swiped, { passive: true });
    document.body.appendChild(box);
  }

  function swiped(event) {
    if (!touchStart) {
      return;
    }
    var end = event.changedTouches[0];
    var dx = end.clientX - touchStart.clientX;
    var dy = end.clientY - touchStart.clientY;
    touchStart = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy)) {
      step(dx < 0 ? 1 : -1);
    }
  }

  function preload(index) {
    if (index >= 0 && index < links.length) {
      new Image().src = links[index].href;
    }
  }

  function loaded() {
    if (image.src === links[current].href) {
      box.classList.remove("loading");
      status.textContent = "";
    }
  }

  /* Shows links[index]; the old photo stays hidden until the new one has loaded. */
  function show(index) {
    if (!box) {
      build();
    }
    var link = links[index];
    var thumb = link.querySelector("img");
    if (current < 0) {
      opener = link;
    }
    current = index;
    box.classList.add("loading");
    status.textContent = "Loading\u2026";
    image.src = link.href;
    image.alt = thumb ? thumb.alt : "";
    image.width = Number(link.dataset.width) || 0;
    image.height = Number(link.dataset.height) || 0;
    counter.textContent = (index + 1) + " / " + links.length;
    caption.textContent = captionOf(link);
    caption.scrollTop = 0;
    prev.disabled = index === 0;
    next.disabled = index === links.length - 1;
    if (box.hidden) {
      box.hidden = false;
      main.inert = true;
      document.body.classList.add("lightbox-open");
    }
    if (!box.contains(document.activeElement) || document.activeElement.disabled) {
      closer.focus();
    }
    preload(index - 1);
    preload(index + 1);
  }

  function hide() {
    if (current < 0) {
      return;
    }
    current = -1;
    box.hidden = true;
    image.removeAttribute("src");
    main.inert = false;
    document.body.classList.remove("lightbox-open");
    if (opener) {
      opener.focus();
    }
  }

  function ours() {
    return Boolean(history.state && history.state.lightbox);
  }

  /* Closing undoes the entry that opening pushed; popstate then finds no photo in the address. */
  function close() {
    if (current < 0) {
      return;
    }
    hide();
    if (ours()) {
      history.back();
    } else {
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function open(index) {
    show(index);
    history.pushState({ lightbox: true }, "", "#" + photoId(links[index]));
  }

  function step(delta) {
    var target = current + delta;
    if (current >= 0 && target >= 0 && target < links.length) {
      show(target);
      history.replaceState({ lightbox: true }, "", "#" + photoId(links[target]));
    }
  }

  function indexOfHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    for (var i = 0; i < links.length; i++) {
      if (photoId(links[i]) === id) {
        return i;
      }
    }
    return -1;
  }

  /* Back, Forward or a #photo- link followed on the page: show what the address names. */
  function follow() {
    var index = indexOfHash();
    if (index < 0) {
      hide();
      return;
    }
    if (!ours()) {
      history.replaceState({ lightbox: true }, "", location.href);
    }
    if (index !== current) {
      show(index);
    }
  }

  function trapTab(event) {
    var stops = [closer, prev, next].filter(function (stop) { return !stop.disabled; });
    var at = stops.indexOf(document.activeElement);
    var to = event.shiftKey ? at - 1 : at + 1;
    event.preventDefault();
    stops[(to + stops.length) % stops.length].focus();
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      open(index);
    });
  });

  document.addEventListener("keydown", function (event) {
    if (current < 0) {
      return;
    }
    if (event.key === "Escape") {
      close();
    } else if (event.key === "ArrowLeft") {
      step(-1);
    } else if (event.key === "ArrowRight") {
      step(1);
    } else if (event.key === "Tab") {
      trapTab(event);
    }
  });

  window.addEventListener("popstate", follow);
  window.addEventListener("hashchange", follow);
  var linked = indexOfHash();
  if (linked >= 0) {
    if (!ours()) {
      history.replaceState(null, "", location.pathname + location.search);
      history.pushState({ lightbox: true }, "", "#" + photoId(links[linked]));
    }
    show(linked);
    /* Chromium clears focus when it scrolls to a fragment that cannot take it, after load. */
    window.addEventListener("load", function () {
      setTimeout(function () {
        if (current >= 0 && !box.contains(document.activeElement)) {
          closer.focus();
        }
      }, 0);
    });
  }
}());

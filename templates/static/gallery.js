/* Lightbox for a job's gallery page.
 *
 * The page works without this script: every thumbnail is a link to its display
 * image. With it, a click opens the photo over the page; arrow keys and swipes
 * move, Esc closes, and the address carries #photo-<id> so a link opens that
 * photo. Captions are copied with textContent from the page, never as HTML.
 */
(function () {
  "use strict";

  var gallery = document.querySelector("[data-lightbox]");
  if (!gallery) {
    return;
  }
  var links = Array.prototype.slice.call(gallery.querySelectorAll("a.photo-link"));
  var box = null;
  var image = null;
  var caption = null;
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

  function button(className, label, symbol, action) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = className;
    element.setAttribute("aria-label", label);
    element.textContent = symbol;
    element.addEventListener("click", function (event) {
      event.stopPropagation();
      action();
    });
    return element;
  }

  function build() {
    box = document.createElement("div");
    box.className = "lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.hidden = true;
    image = document.createElement("img");
    image.className = "lightbox-image";
    caption = document.createElement("p");
    caption.className = "lightbox-caption";
    prev = button("lightbox-prev", "Previous photo", "\u2039", function () { step(-1); });
    next = button("lightbox-next", "Next photo", "\u203a", function () { step(1); });
    box.append(image, caption, prev, next, button("lightbox-close", "Close", "\u00d7", close));
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
    image.src = link.href;
    image.alt = thumb ? thumb.alt : "";
    image.width = Number(link.dataset.width) || 0;
    image.height = Number(link.dataset.height) || 0;
    caption.textContent = captionOf(link);
    prev.disabled = index === 0;
    next.disabled = index === links.length - 1;
    box.hidden = false;
    document.body.classList.add("lightbox-open");
    history.replaceState(null, "", "#" + photoId(link));
    preload(index - 1);
    preload(index + 1);
  }

  function close() {
    if (current < 0) {
      return;
    }
    current = -1;
    box.hidden = true;
    image.removeAttribute("src");
    document.body.classList.remove("lightbox-open");
    history.replaceState(null, "", location.pathname + location.search);
    if (opener) {
      opener.focus();
    }
  }

  function step(delta) {
    var target = current + delta;
    if (current >= 0 && target >= 0 && target < links.length) {
      show(target);
    }
  }

  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    for (var i = 0; i < links.length; i++) {
      if (photoId(links[i]) === id) {
        show(i);
        return;
      }
    }
    close();
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      show(index);
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
    }
  });

  window.addEventListener("hashchange", openFromHash);
  if (location.hash) {
    openFromHash();
  }
}());

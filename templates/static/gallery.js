/* A job's gallery page: find a photo (tag filter, order), then inspect it (PhotoSwipe).
 *
 * The page works without this script: every photo is listed under its day and
 * every thumbnail links to its display image. With it:
 *
 * - Tag chips show only the photos carrying a tag, and a switch puts the
 *   newest first. The address keeps both (#tag=roof&order=newest), so a
 *   reload or a shared link shows the same; choosing replaces the history
 *   entry instead of adding one, so Back still leaves the page.
 * - A click opens the photo in PhotoSwipe (pinch, double-tap and wheel zoom,
 *   pan, swipe, keys), loaded from this site on first use. The viewer walks
 *   the photos the page shows, in the order shown, with a "3 / 10" counter.
 *   Opening pushes one history entry and moving replaces it, so Back closes
 *   the photo; the address carries #photo-<id>, so a link opens that photo.
 *   Focus moves into the viewer and stays there; the page behind is inert.
 * - The display image opens first; zooming past its pixels swaps in the zoom
 *   image, which nothing loads before. Captions are copied with textContent
 *   from the page, never as HTML. PhotoSwipe preloads the neighbours.
 */
(function () {
  "use strict";

  var photos = document.querySelector("[data-lightbox]");
  if (!photos) {
    return;
  }
  var main = document.querySelector("main");
  var finder = document.querySelector(".finder");
  var days = Array.prototype.slice.call(photos.querySelectorAll(".day"));
  var state = { tag: "", order: "oldest" };
  var viewer = null; /* the open PhotoSwipe */
  var shown = []; /* the links the open viewer walks */
  var opener = null;
  var closing = false;
  var loading = null;
  var opening = false; /* a photo was asked for and the viewer is not open yet: its address entry is made */

  function each(list, action) {
    Array.prototype.forEach.call(list, action);
  }

  function textOf(element) {
    return element ? element.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function tagsOf(item) {
    return Array.prototype.map.call(item.querySelectorAll(".tags li"), textOf);
  }

  /* What the filter matches: the photo's tags in lower case, as the chips' data-tag holds them. */
  function tagKeysOf(item) {
    return tagsOf(item).map(function (tag) {
      return tag.toLowerCase();
    });
  }

  function photoId(link) {
    return link.closest("li.photo").id;
  }

  /* ------------------------------------------------------------ the address */

  /* "#tag=roof&order=newest&photo-12" -> {tag, order, photo}; "#photo-12" alone still works. */
  function parseHash() {
    var parsed = { tag: "", order: "oldest", photo: "" };
    location.hash.slice(1).split("&").forEach(function (part) {
      var text = part;
      try {
        text = decodeURIComponent(part);
      } catch (error) {
        return;
      }
      if (text.indexOf("tag=") === 0) {
        parsed.tag = text.slice(4);
      } else if (text === "order=newest") {
        parsed.order = "newest";
      } else if (/^photo-\d+$/.test(text)) {
        parsed.photo = text;
      }
    });
    return parsed;
  }

  function hashFor(photo) {
    var parts = [];
    if (state.tag) {
      parts.push("tag=" + encodeURIComponent(state.tag));
    }
    if (state.order === "newest") {
      parts.push("order=newest");
    }
    if (photo) {
      parts.push(photo);
    }
    return parts.length ? "#" + parts.join("&") : location.pathname + location.search;
  }

  function ours() {
    return Boolean(history.state && history.state.lightbox);
  }

  /* ------------------------------------------------------------ finding a photo */

  function chips(selector) {
    return finder ? finder.querySelectorAll(selector) : [];
  }

  function known(tag) {
    return Array.prototype.some.call(chips("[data-tag]"), function (chip) {
      return chip.dataset.tag === tag;
    });
  }

  /* Shows the photos carrying state.tag (all when empty); days and blocks left empty are hidden. */
  function applyFilter() {
    var total = 0;
    var matching = 0;
    days.forEach(function (day) {
      var inDay = 0;
      each(day.querySelectorAll("ul.gallery"), function (run) {
        var inRun = 0;
        each(run.children, function (item) {
          var match = !state.tag || tagKeysOf(item).indexOf(state.tag) >= 0;
          item.hidden = !match;
          inRun += match ? 1 : 0;
          total += 1;
        });
        run.hidden = inRun === 0;
        inDay += inRun;
      });
      day.hidden = inDay === 0;
      day.querySelector(".day-count").textContent = inDay + (inDay === 1 ? " photo" : " photos");
      matching += inDay;
    });
    each(chips("[data-tag]"), function (chip) {
      chip.setAttribute("aria-pressed", String(chip.dataset.tag === state.tag));
    });
    var status = finder && finder.querySelector(".finder-status");
    var pressed = finder && finder.querySelector('.chip[data-tag][aria-pressed="true"]');
    var name = pressed && pressed.firstChild ? pressed.firstChild.textContent.trim() : state.tag;
    if (status) {
      status.textContent = state.tag ? matching + " of " + total + " photos tagged \u201c" + name + "\u201d" : "";
    }
  }

  /* Newest first reverses the days (the undated day stays last), the blocks in each day and the photos in each block. */
  function applyOrder(order) {
    if (order === state.order) {
      return;
    }
    state.order = order;
    var dated = days.filter(function (day) { return day.querySelector("h2 time"); });
    var undated = days.filter(function (day) { return !day.querySelector("h2 time"); });
    days = dated.reverse().concat(undated);
    days.forEach(function (day) {
      var runs = Array.prototype.slice.call(day.querySelectorAll("ul.gallery")).reverse();
      runs.forEach(function (run) {
        Array.prototype.slice.call(run.children).reverse().forEach(function (item) { run.appendChild(item); });
        day.appendChild(run);
      });
      photos.appendChild(day);
    });
    each(chips("[data-order]"), function (chip) {
      chip.setAttribute("aria-pressed", String(chip.dataset.order === order));
    });
  }

  function applyState(wanted) {
    var tag = wanted.tag.toLowerCase();
    state.tag = known(tag) ? tag : "";
    applyOrder(wanted.order);
    applyFilter();
  }

  function choose(event) {
    var chip = event.target.closest("button.chip");
    if (!chip) {
      return;
    }
    if (chip.hasAttribute("data-tag")) {
      state.tag = chip.dataset.tag;
      applyFilter();
    } else {
      applyOrder(chip.dataset.order);
    }
    history.replaceState(null, "", hashFor(""));
  }

  /* ------------------------------------------------------------ the viewer */

  function visibleLinks() {
    return Array.prototype.filter.call(photos.querySelectorAll("a.photo-link"), function (link) {
      return !link.closest("li.photo").hidden;
    });
  }

  function captionOf(link) {
    var figure = link.closest("figure");
    var parts = [textOf(figure.querySelector(".description")), tagsOf(figure).join(", "), textOf(figure.querySelector("time"))];
    return parts.filter(Boolean).join(" \u00b7 ");
  }

  /* PhotoSwipe's slide: the display image first, sized as the zoom image so zoom level 1 is its full pixels. */
  function slideOf(link) {
    var thumb = link.querySelector("img");
    var zoom = link.dataset.zoom;
    return {
      src: link.href,
      msrc: thumb.currentSrc || thumb.src,
      width: Number(zoom ? link.dataset.zoomWidth : link.dataset.width),
      height: Number(zoom ? link.dataset.zoomHeight : link.dataset.height),
      displayWidth: Number(link.dataset.width),
      zoom: zoom ? new URL(zoom, document.baseURI).href : "",
      alt: thumb.alt,
      caption: captionOf(link),
      link: link
    };
  }

  function stylesheet(href) {
    return new Promise(function (resolve, reject) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = href;
      link.onload = resolve;
      link.onerror = reject;
      document.head.appendChild(link);
    });
  }

  /* PhotoSwipe and its styles, fetched once (a page that is only scrolled never loads them). */
  function load() {
    if (!loading) {
      var script = new URL(photos.dataset.viewer, document.baseURI).href;
      loading = Promise.all([import(script), stylesheet(photos.dataset.viewerCss)]).then(function (loaded) {
        return loaded[0].default;
      });
      loading.catch(function () {
        loading = null;
      });
    }
    return loading;
  }

  function element(tag, className, id) {
    var made = document.createElement(tag);
    made.className = className;
    if (id) {
      made.id = id;
    }
    return made;
  }

  var caption = element("p", "lightbox-caption", "lightbox-caption");
  var status = element("p", "lightbox-status");
  var measure = element("p", "lightbox-measure");

  /* Room under the photo for its caption, so the photo is never covered. */
  function padding(viewport, data) {
    if (!data.caption || !viewer) {
      return { top: 0, bottom: 0, left: 0, right: 0 };
    }
    measure.textContent = data.caption;
    return { top: 0, bottom: measure.offsetHeight, left: 0, right: 0 };
  }

  function describe() {
    if (!viewer || !viewer.currSlide) {
      return;
    }
    var data = viewer.currSlide.data;
    caption.textContent = data.caption;
    caption.scrollTop = 0;
    var content = viewer.currSlide.content;
    status.textContent = content.isError() ? "This photo could not be loaded." : content.isLoading() ? "Loading\u2026" : "";
  }

  /* Zoomed past what the display image's pixels can show: fetch the zoom image, then swap it in. */
  function sharpen(slide) {
    var data = slide && slide.data;
    if (!data || !data.zoom || data.src === data.zoom || data.sharpening) {
      return;
    }
    var needed = slide.width * slide.currZoomLevel * (window.devicePixelRatio || 1);
    if (slide.currZoomLevel <= slide.zoomLevels.initial * 1.01 || needed <= data.displayWidth) {
      return;
    }
    data.sharpening = true;
    var image = new Image();
    image.src = data.zoom;
    image.decode().then(function () {
      data.src = data.zoom;
      if (slide.content && slide.content.element) {
        slide.content.element.src = data.zoom;
      }
    }, function () {
      data.sharpening = false;
    });
  }

  function trapTab(event) {
    if (event.key !== "Tab" || !viewer) {
      return;
    }
    var stops = Array.prototype.filter.call(viewer.element.querySelectorAll("button"), function (button) {
      return !button.disabled && button.offsetParent !== null;
    });
    var at = stops.indexOf(document.activeElement);
    var to = event.shiftKey ? at - 1 : at + 1;
    event.preventDefault();
    stops[(to + stops.length) % stops.length].focus();
  }

  function focusClose() {
    var close = viewer && viewer.element.querySelector(".pswp__button--close");
    if (close) {
      close.focus();
    }
  }

  function start(PhotoSwipe, index) {
    viewer = new PhotoSwipe({
      dataSource: shown.map(slideOf),
      index: index,
      wheelToZoom: true,
      trapFocus: false, /* trapTab keeps focus on the viewer's buttons; the page behind is inert */
      returnFocus: false,
      showHideAnimationType: "fade",
      bgOpacity: 0.96,
      preloaderDelay: 600,
      closeTitle: "Close",
      zoomTitle: "Zoom",
      arrowPrevTitle: "Previous photo",
      arrowNextTitle: "Next photo",
      errorMsg: "This photo could not be loaded.",
      paddingFn: padding
    });
    /* Every slide, not only the first, shows its thumbnail while the display image loads. */
    viewer.addFilter("placeholderSrc", function (src, content) {
      return content.data.msrc || src;
    });
    viewer.on("uiRegister", function () {
      viewer.ui.registerElement({ name: "caption-box", appendTo: "root", onInit: function (box) {
        box.append(caption, measure);
      } });
      viewer.ui.registerElement({ name: "status-line", appendTo: "root", onInit: function (line) {
        line.append(status);
      } });
    });
    viewer.on("afterInit", function () {
      viewer.element.setAttribute("aria-modal", "true");
      viewer.element.setAttribute("aria-label", "Photo viewer");
      viewer.element.setAttribute("aria-describedby", "lightbox-caption");
      focusClose();
    });
    viewer.on("change", function () {
      describe();
      history.replaceState({ lightbox: true }, "", hashFor(photoId(shown[viewer.currIndex])));
    });
    viewer.on("loadComplete", describe);
    viewer.on("loadError", describe);
    viewer.on("zoomPanUpdate", function (event) { sharpen(event.slide); });
    viewer.on("close", finish);
    viewer.init();
    main.inert = true;
    document.body.classList.add("lightbox-open");
    document.addEventListener("keydown", trapTab);
    describe();
  }

  /* The viewer closes (Esc, the button, a swipe down or Back): the page is live again and the address forgets the photo. */
  function finish() {
    main.inert = false;
    document.body.classList.remove("lightbox-open");
    document.removeEventListener("keydown", trapTab);
    viewer = null;
    if (opener) {
      opener.focus({ preventScroll: true });
      opener = null;
    }
    if (!closing) {
      if (ours()) {
        history.back();
      } else {
        history.replaceState(null, "", hashFor(""));
      }
    }
    closing = false;
  }

  function show(link, push) {
    shown = visibleLinks();
    var index = shown.indexOf(link);
    if (index < 0) {
      return Promise.resolve();
    }
    opener = opener || link;
    if (push) {
      /* a second tap while the script still loads takes the first one's place: one Back closes */
      history[opening ? "replaceState" : "pushState"]({ lightbox: true }, "", hashFor(photoId(link)));
    }
    opening = !viewer;
    return load().then(function (PhotoSwipe) {
      opening = false;
      if (viewer) {
        viewer.goTo(index);
      } else {
        start(PhotoSwipe, index);
      }
    }, function () {
      opening = false;
      location.href = link.href;
    });
  }

  /* Closing because the address no longer names a photo (Back): no history step of our own. */
  function hide() {
    if (viewer) {
      closing = true;
      viewer.close();
    }
  }

  function linkOf(id) {
    var item = id && document.getElementById(id);
    return item && item.matches("li.photo") ? item.querySelector("a.photo-link") : null;
  }

  /* Back, Forward or an address typed or followed on the page: show what it names. */
  function follow() {
    var wanted = parseHash();
    applyState(wanted);
    var link = linkOf(wanted.photo);
    if (!link) {
      hide();
      return;
    }
    if (link.closest("li.photo").hidden) {
      state.tag = "";
      applyFilter();
    }
    if (!ours()) {
      history.replaceState({ lightbox: true }, "", location.href);
    }
    if (!viewer || viewer.currSlide.data.link !== link) {
      show(link, false);
    }
  }

  photos.addEventListener("click", function (event) {
    var link = event.target.closest("a.photo-link");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    opener = link;
    show(link, true);
  });
  /* A finger or pointer on a thumbnail is about to open it: fetch the viewer meanwhile. */
  photos.addEventListener("pointerdown", function () { load().catch(function () {}); }, { once: true });

  photos.classList.add("viewer-ready");
  if (finder) {
    finder.hidden = false;
    finder.addEventListener("click", choose);
  }
  window.addEventListener("popstate", follow);
  window.addEventListener("hashchange", follow);

  var first = parseHash();
  applyState(first);
  var linked = linkOf(first.photo);
  if (linked) {
    if (linked.closest("li.photo").hidden) {
      state.tag = "";
      applyFilter();
    }
    if (!ours()) {
      history.replaceState(null, "", hashFor(""));
      history.pushState({ lightbox: true }, "", hashFor(first.photo));
    }
    opener = linked;
    show(linked, false);
    /* Chromium clears focus when it scrolls to a fragment that cannot take it, after load. */
    window.addEventListener("load", function () {
      setTimeout(function () {
        if (viewer && !viewer.element.contains(document.activeElement)) {
          focusClose();
        }
      }, 0);
    });
  }
}());

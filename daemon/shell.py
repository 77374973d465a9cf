"""The upload form as an installable app: its service worker, web app manifest and favicon.

| route                              | answer                                                   |
|------------------------------------|----------------------------------------------------------|
| GET /upload/sw.js                  | the service worker, allowed to control ``/upload`` itself |
| GET /upload/manifest.webmanifest   | the manifest: name, icons, start at ``/upload``          |
| GET /favicon.ico                   | the icon browsers ask every site for                      |

All three answer without sign-in: browsers fetch manifests and favicons
without cookies, and a service worker script behind a sign-in redirect would
never install. None of them holds anything private.

A worker may by default control only the folder its script is in
(``/upload/``), which leaves out the form's own address ``/upload`` and
``/upload?job=ID``; the ``Service-Worker-Allowed`` header widens that to
``/upload`` and the page registers with that scope. The worker script is
always revalidated (``no-cache``) so a new version reaches phones at once.
"""

from __future__ import annotations

import json

import bottle

from jobgallery.templating import static_dir

APP_NAME = "jobgallery uploads"
SHORT_NAME = "Uploads"
THEME = "#0b4fb3"
ICONS = (
    ("icon-192.png", "192x192", "image/png", "any"),
    ("icon-512.png", "512x512", "image/png", "any"),
    ("icon-maskable-512.png", "512x512", "image/png", "maskable"),
    ("icon.svg", "any", "image/svg+xml", "any"),
)
WORKER = "upload/sw.js"
FAVICON = "upload/icons/favicon.ico"


def manifest(root: str, icon_url) -> dict:
    """The web app manifest; ``icon_url(name)`` gives an icon's versioned address."""
    return {
        "name": APP_NAME,
        "short_name": SHORT_NAME,
        "description": "Photos from the job site, sent when there is signal.",
        "id": f"{root}/upload",
        "start_url": f"{root}/upload",
        "scope": f"{root}/upload",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": icon_url(f"upload/icons/{name}"), "sizes": sizes, "type": kind, "purpose": purpose}
            for name, sizes, kind, purpose in ICONS
        ],
    }


def manifest_response(root: str, icon_url) -> bottle.HTTPResponse:
    body = json.dumps(manifest(root, icon_url), indent=1).encode("utf-8")
    response = bottle.HTTPResponse(body, 200)
    response.content_type = "application/manifest+json; charset=utf-8"
    response.set_header("Cache-Control", "no-cache")
    return response


def worker_response(root: str) -> bottle.HTTPResponse:
    response = bottle.static_file(WORKER, root=str(static_dir()), mimetype="text/javascript")
    response.set_header("Service-Worker-Allowed", f"{root}/upload")
    response.set_header("Cache-Control", "no-cache")
    return response


def favicon_response() -> bottle.HTTPResponse:
    response = bottle.static_file(FAVICON, root=str(static_dir()), mimetype="image/vnd.microsoft.icon")
    response.set_header("Cache-Control", "public, max-age=86400")
    return response

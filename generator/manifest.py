"""What the last build published, so the next one does only what changed.

The manifest is a dotfile in ``output/`` (never served: Nginx refuses dotfiles)
and goes with the site: delete ``output/`` and the next build starts from
nothing, which is a correct full build. A manifest that is missing, unreadable
or of another format counts as empty. It is rewritten only when its content
changes, so a build with nothing to do writes nothing.

Shape (all keys are strings, as JSON wants):

- ``settings``: fingerprint of everything every page depends on (sizes, templates...)
- ``photos``: image id -> ``{"job", "dir", "display": [name, w, h], "thumb": [name, w, h],
  "thumb2x": [name, w, h], "color"}``; ``dir`` is the job folder the files are in
- ``pages``: page path -> key of the context it was rendered from
- ``jobs``: job id -> ``{"path", "archived", "card"}``; ``card`` is what the index shows of it
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jobgallery.storage import atomic_write

MANIFEST_NAME = ".jobgallery-manifest.json"
FORMAT = 1


@dataclass
class Manifest:
    settings: str = ""
    photos: dict[str, dict] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    loaded_digest: str = ""  # of the file as read, to tell whether anything changed

    def to_json(self) -> str:
        body = {"format": FORMAT, "settings": self.settings, "photos": self.photos, "pages": self.pages}
        body["jobs"] = self.jobs
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def derivative_paths(self) -> set[str]:
        """Every derivative the manifest lists, relative to ``output/``: names that change with their bytes."""
        paths = set()
        for entry in self.photos.values():
            folder = entry.get("dir") if isinstance(entry, dict) else None
            if isinstance(folder, str):
                paths.update(f"{folder}{made[0]}" for made in entry.values() if isinstance(made, list) and made)
        return paths


def manifest_path(output: Path) -> Path:
    return output / MANIFEST_NAME


def load_manifest(output: Path) -> Manifest:
    """The last build's manifest, or an empty one when there is none we can trust."""
    try:
        text = manifest_path(output).read_text(encoding="utf-8")
        body = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return Manifest()
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return Manifest()
    parts = [body.get(name) for name in ("photos", "pages", "jobs")]
    if not all(isinstance(part, dict) for part in parts) or not isinstance(body.get("settings"), str):
        return Manifest()
    return Manifest(body["settings"], *parts, loaded_digest=digest(text))


def save_manifest(output: Path, manifest: Manifest) -> bool:
    """Write the manifest if it changed; True when it was written."""
    text = manifest.to_json()
    if digest(text) == manifest.loaded_digest and manifest_path(output).is_file():
        return False
    atomic_write(manifest_path(output), text.encode("utf-8"))
    manifest.loaded_digest = digest(text)
    return True


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

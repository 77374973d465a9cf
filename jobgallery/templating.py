"""The Jinja2 environment shared by the generator and the daemon's pages.

Autoescaping is always on: titles, descriptions and tags are typed by users.
A user's template folder (``gallery.templates``) is searched before ours, so
any one template can be overridden without copying the rest.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from jobgallery.config import Config


def builtin_templates() -> Path:
    """Our templates: inside the installed package, or the checkout's top-level folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError("jobgallery's templates are missing from this installation")


def template_dirs(config: Config) -> list[Path]:
    dirs = [builtin_templates()]
    if config.gallery.templates:
        dirs.insert(0, config.gallery.templates)
    return dirs


def static_dir() -> Path:
    """CSS and JS shipped with the templates."""
    return builtin_templates() / "static"


def make_environment(config: Config) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(config)]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )

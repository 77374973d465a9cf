"""Settings: one table of defaults, loading from YAML, validation at start-up.

Every setting is declared once below with its default and help text; the
shipped ``config.yaml`` must document each one (a test checks this). A bad
file stops every command with one line naming the key or the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import yaml

from jobgallery.errors import ConfigError

CONFIG_ENV = "JOBGALLERY_CONFIG"


@dataclass(frozen=True)
class Setting:
    """One configuration key: its default, its kind and what it is for."""

    key: str
    default: Any
    kind: str  # "str", "int", "float", "bool" or "path"
    help: str
    minimum: float | None = None
    maximum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("paths.data", "data", "path", "SQLite database and per-job folders of masters"),
    Setting("paths.output", "output", "path", "the static site that Nginx (or the daemon) serves"),
    Setting("paths.archive", "archive", "path", "where archived jobs are written"),
    Setting("server.host", "127.0.0.1", "str", "address the upload daemon listens on"),
    Setting("server.port", 8080, "int", "port the upload daemon listens on", 1, 65535),
    Setting("server.max_upload_mb", 25, "int", "MiB per request; larger bodies get 413", 1, 4096),
    Setting("server.threads", 4, "int", "worker threads of the WSGI server", 1, 64),
    Setting("server.serve_output", True, "bool", "also serve output/ at / (for use without Nginx)"),
    Setting(
        "server.rebuild_delay_seconds", 0.5, "float", "quiet time after an upload before its job is rebuilt", 0, 3600
    ),
    Setting(
        "server.rebuild_max_wait_seconds",
        10.0,
        "float",
        "a job's page is rebuilt at most this long after an upload, even while a burst goes on",
        0,
        3600,
    ),
    Setting("server.log_level", "info", "str", "debug, info, warning or error"),
    Setting(
        "server.busy_timeout_seconds",
        2.0,
        "float",
        "how long a request waits for the database while another process writes; then 503",
        0.05,
        60,
    ),
    Setting(
        "server.rebuild_retry_seconds", 30.0, "float", "a rebuild short of disk space is retried after this", 1, 3600
    ),
    Setting("server.connection_limit", 500, "int", "open connections accepted at once; more wait to be accepted", 10),
    Setting("server.channel_timeout_seconds", 30, "int", "a connection idle this long is closed", 1, 3600),
    Setting("server.session_days", 30, "int", "a browser's sign-in lasts this long after its last use", 1, 3650),
    Setting(
        "server.trusted_proxies",
        "auto",
        "str",
        "addresses whose X-Forwarded-For/-Proto are believed: auto (none, or 127.0.0.1 when serve_output is "
        "false), none, or a comma-separated list of addresses and networks",
    ),
    Setting("images.max_pixels", 100_000_000, "int", "larger images are refused as decompression bombs", 1_000_000),
    Setting(
        "images.max_decode_mb",
        384,
        "int",
        "MiB one image may take to decode (larger ones are refused), and all decodes on the box at once",
        1,
    ),
    Setting(
        "images.master_max_px",
        0,
        "int",
        "downsize masters at ingest to this long edge; 0 keeps the bytes as uploaded",
        0,
    ),
    Setting("images.display_size", 1024, "int", "display image: area of a 4:3 one this wide", 64, 8192),
    Setting("images.display_quality", 85, "int", "JPEG quality of display images", 1, 95),
    Setting("images.thumb_size", 300, "int", "thumbnails are as tall as a 4:3 one this wide (and a 2x one)", 32, 2048),
    Setting("images.thumb_quality", 70, "int", "JPEG quality of thumbnails", 1, 95),
    Setting(
        "images.thumb_webp_quality", 80, "int", "WebP quality of the thumbnails offered beside the JPEG ones", 1, 100
    ),
    Setting(
        "images.zoom_size",
        2560,
        "int",
        "width of a 4:3 photo's zoom image, loaded when a viewer zooms in (other shapes: the same area)",
        64,
        16384,
    ),
    Setting("gallery.title", "Job galleries", "str", "title of the gallery index page"),
    Setting(
        "gallery.public_index", True, "bool", "list jobs on the index; when false, job paths carry an unguessable token"
    ),
    Setting("gallery.templates", "", "path", "folder of templates that override the built-in ones; empty for none"),
    Setting(
        "gallery.site_url",
        "",
        "str",
        "the site's address as viewers reach it (https://photos.example.com/), for reports' QR codes; empty: no code",
    ),
    Setting("gallery.report_logo", "", "path", "a PNG or JPEG logo for the cover of photo reports; empty for none"),
    Setting("gallery.report_per_page", 2, "int", "photos per page of published reports: 1, 2, 4 or 6", 1, 6),
    Setting(
        "gallery.share_days", 30, "int", "days a share link lasts when share add is given no --days or --until", 0, 3650
    ),
    Setting("upload.browser_location", True, "bool", "store the phone's position with photos that carry none"),
    Setting("build.workers", 2, "int", "processes for batch builds; 0 means one per core", 0, 64),
    Setting("maintenance.orphan_grace_minutes", 60, "int", "cleanup never touches anything younger", 0),
    Setting("maintenance.cleanup_time", "03:30", "str", "daily time (HH:MM) the daemon runs cleanup"),
    Setting("maintenance.compress_time", "04:00", "str", "daily time (HH:MM) the daemon recompresses old masters"),
    Setting("maintenance.compress_after_days", 180, "int", "masters older than this are recompressed once", 0),
    Setting("maintenance.compress_quality", 60, "int", "JPEG quality of recompressed masters", 1, 95),
    Setting("maintenance.archive_after_days", 365, "int", "the archive timer moves jobs older than this", 0),
    Setting("maintenance.interval_seconds", 0.0, "float", "run cleanup and compress this often instead; 0: daily", 0),
    Setting(
        "maintenance.trash_days", 30, "int", "days a deleted photo's master is kept (undo); then cleanup removes it", 0
    ),
    Setting("maintenance.warn_free_percent", 10, "int", "status needs attention below this free space (%)", 0, 100),
    Setting(
        "maintenance.warn_days_left", 30, "int", "status needs attention when a disk fills within this many days", 0
    ),
    Setting("publish.bucket", "", "str", "S3-compatible bucket publish mirrors output/ into; empty: no publishing"),
    Setting("publish.prefix", "", "str", "folder in the bucket for this box's site (several boxes: one prefix each)"),
    Setting("publish.endpoint_url", "", "str", "the store's URL, e.g. https://s3.example.net; empty: Amazon S3"),
    Setting("publish.region", "", "str", "the store's region; empty: the AWS SDK's own lookup"),
    Setting("publish.path_style", False, "bool", "address the bucket as endpoint/bucket/key (MinIO, Garage, Ceph)"),
    Setting("publish.page_max_age", 60, "int", "seconds a CDN or browser may keep a page before revalidating", 0),
    Setting("publish.multipart_mb", 16, "int", "files from this many MiB up are sent in parts of this size", 5, 5120),
    Setting("publish.threads", 4, "int", "uploads at once", 1, 32),
    Setting("publish.max_attempts", 5, "int", "tries per request, with backoff, before publish or backup stops", 1, 20),
    Setting("backup.keep_days", 30, "int", "days of database snapshots an off-site backup keeps", 1, 3650),
)

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}
LOG_LEVELS = ("debug", "info", "warning", "error")


class Section(SimpleNamespace):
    """One group of settings, read as attributes: ``config.server.port``."""


@dataclass(frozen=True)
class Config:
    """Validated settings with paths made absolute."""

    paths: Section
    server: Section
    images: Section
    gallery: Section
    upload: Section
    build: Section
    maintenance: Section
    publish: Section
    backup: Section
    source: Path

    @property
    def db_path(self) -> Path:
        return self.paths.data / "jobgallery.db"

    def get(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return getattr(getattr(self, section), name)


def trusted_proxies(config: Config) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``server.trusted_proxies`` as networks (see ``daemon/forwarded.py``); ConfigError when malformed."""
    text = config.server.trusted_proxies.strip().lower()
    if text == "auto":
        text = "none" if config.server.serve_output else "127.0.0.1"
    if text == "none":
        return ()
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"setting 'server.trusted_proxies' must be auto, none or addresses like 127.0.0.1, ::1, not {text!r}"
        ) from None


def build_workers(config: Config) -> int:
    """``build.workers`` as a number of processes: 0 means one per core."""
    return config.build.workers or os.cpu_count() or 1


def find_config_file(explicit: str | None) -> Path:
    """The contract's lookup order: --config, $JOBGALLERY_CONFIG, ./config.yaml.

    Raises ConfigError when none is given and the current folder has no
    config.yaml: running on defaults there would quietly start an empty site
    (a new database under ./data) and the operator would think the jobs gone.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config.yaml")
    if not local.is_file():
        raise ConfigError(
            f"no config.yaml in {Path.cwd()} and neither --config nor ${CONFIG_ENV} given: run it in the "
            f"site's folder, or name the site's file with --config PATH (before the command) or {CONFIG_ENV}=PATH "
            "(jobgallery init FOLDER writes one for a new site)"
        )
    return local


def load_config(explicit: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load, validate and resolve the configuration; raise ConfigError on any problem or when there is no file."""
    path = find_config_file(explicit)
    values = flatten(read_yaml(path), where=str(path))
    values.update(overrides or {})
    return build_config(values, path.resolve().parent, path.resolve())


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice: the second would silently win."""


def refuse_duplicate_keys(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"'{key}' is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, refuse_duplicate_keys)


def read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        problem = f": {exc.problem}" if getattr(exc, "problem", None) else ""
        raise ConfigError(f"config file {path} is not valid YAML{line}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections, like 'server:'")
    return data


def flatten(raw: dict, where: str) -> dict[str, Any]:
    """Turn ``{"server": {"port": 1}}`` into ``{"server.port": 1}``, rejecting unknown keys."""
    sections = {key.split(".")[0] for key in SETTINGS_BY_KEY}
    flat: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in sections:
            raise ConfigError(f"{where}: unknown section '{section}' (known: {', '.join(sorted(sections))})")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: '{section}' must be a mapping of settings")
        for name, value in body.items():
            key = f"{section}.{name}"
            if key not in SETTINGS_BY_KEY:
                raise ConfigError(f"{where}: unknown setting '{key}'")
            flat[key] = value
    return flat


def build_config(values: dict[str, Any], base: Path, source: Path) -> Config:
    groups: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        value = values.get(setting.key, setting.default)
        value = check_value(setting, value)
        if setting.kind == "path":
            value = (base / value).resolve() if value else None
        section, name = setting.key.split(".", 1)
        groups.setdefault(section, {})[name] = value
    check_cross_field(groups)
    config = Config(**{name: Section(**body) for name, body in groups.items()}, source=source)
    trusted_proxies(config)
    return config


def check_value(setting: Setting, value: Any) -> Any:
    """Check one value's type and range; ints are accepted where floats are."""
    expected = {"str": str, "path": str, "int": int, "bool": bool, "float": (int, float)}[setting.kind]
    if (isinstance(value, bool) and setting.kind != "bool") or not isinstance(value, expected):
        raise ConfigError(f"setting '{setting.key}' must be {describe(setting.kind)}, not {value!r}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"setting '{setting.key}' must be at least {setting.minimum:g}, not {value!r}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"setting '{setting.key}' must be at most {setting.maximum:g}, not {value!r}")
    return float(value) if setting.kind == "float" else value


def describe(kind: str) -> str:
    return {
        "str": "a string",
        "path": "a path (a string)",
        "int": "a whole number",
        "bool": "true or false",
        "float": "a number",
    }[kind]


def check_cross_field(groups: dict[str, dict[str, Any]]) -> None:
    """Checks that need more than one value or a format, kept apart from type checks."""
    level = groups["server"]["log_level"]
    if level not in LOG_LEVELS:
        raise ConfigError(f"setting 'server.log_level' must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    for key in ("cleanup_time", "compress_time"):
        parse_clock(groups["maintenance"][key], f"maintenance.{key}")
    if groups["images"]["thumb_size"] > groups["images"]["display_size"]:
        raise ConfigError("setting 'images.thumb_size' must not exceed 'images.display_size'")
    if groups["images"]["zoom_size"] < groups["images"]["display_size"]:
        raise ConfigError("setting 'images.zoom_size' must not be less than 'images.display_size'")
    if groups["gallery"]["report_per_page"] not in (1, 2, 4, 6):
        raise ConfigError("setting 'gallery.report_per_page' must be 1, 2, 4 or 6")
    check_site_url(groups["gallery"]["site_url"])
    logo = groups["gallery"]["report_logo"]
    if logo is not None and not logo.is_file():
        raise ConfigError(f"setting 'gallery.report_logo' names {logo}, which is not a file")
    templates = groups["gallery"]["templates"]
    if templates is not None and not templates.is_dir():
        raise ConfigError(f"setting 'gallery.templates' names {templates}, which is not a folder")
    check_publish(groups["publish"])


BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
PREFIX_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def check_publish(publish: dict[str, Any]) -> None:
    """Bucket, prefix and endpoint in the shapes S3-compatible stores accept; ConfigError otherwise."""
    bucket, prefix, endpoint = publish["bucket"], publish["prefix"], publish["endpoint_url"]
    if bucket and not BUCKET_NAME.fullmatch(bucket):
        raise ConfigError(f"setting 'publish.bucket' must be a bucket name like my-gallery, not {bucket!r}")
    if prefix and not is_key_prefix(prefix):
        raise ConfigError(f"setting 'publish.prefix' must be a folder name like depot-north, not {prefix!r}")
    if endpoint and not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]_-]+(/[^\s]*)?", endpoint):
        raise ConfigError(f"setting 'publish.endpoint_url' must be a URL like https://s3.example.net, not {endpoint!r}")


def is_key_prefix(text: str) -> bool:
    """Folder names joined by ``/``, none of them hidden (``.x``) or a ``..``; empty is fine."""
    return not text or all(PREFIX_PART.fullmatch(part) for part in text.split("/"))


def check_site_url(url: str) -> None:
    """Empty, or an http(s) address with a host (it goes into QR codes that people scan)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment or " " in url:
        raise ConfigError(
            f"setting 'gallery.site_url' must be an address like https://photos.example.com/, not {url!r}"
        )


def parse_clock(text: str, key: str) -> tuple[int, int]:
    """Parse ``HH:MM`` into (hour, minute)."""
    try:
        hour, minute = (int(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"setting '{key}' must be a time like 03:30, not {text!r}") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"setting '{key}' must be a time like 03:30, not {text!r}")
    return hour, minute

"""The daemon builds only with the settings config.yaml holds now.

The daemon reads config.yaml once, at start. Were it to rebuild after the file
changed (``gallery.public_index`` switched off, say), it would publish the
site with the old settings: the job list public again, the private paths
moved back. So every build first reads the file again (one small YAML file)
and, when its settings differ from the ones the daemon runs with, refuses with
a ConfigError whose log line says to restart the daemon. Until then uploads
are still stored; their pages are made by the build after the restart.
"""

from __future__ import annotations

from jobgallery.config import Config, load_config
from jobgallery.errors import ConfigError

RESTART = "restart the daemon (systemctl restart jobgallery) to build with the new settings"


def check_current(config: Config) -> None:
    """Raise ConfigError when ``config.source`` no longer loads to ``config``."""
    if config.source is None:
        return
    try:
        current = load_config(str(config.source))
    except ConfigError as exc:
        raise ConfigError(f"{config.source} changed and no longer loads ({exc}); not building: {RESTART}") from None
    if current != config:
        raise ConfigError(
            f"{config.source} changed since the daemon started; not building with the old settings: {RESTART}"
        )

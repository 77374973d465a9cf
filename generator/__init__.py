"""The static side: derivative images, Jinja2 rendering, incremental build, atomic publish."""

"""What a derivative worker needs, loaded once by the pool's fork server.

Importing this module does the work every worker would otherwise repeat on
its first photo (Pillow's format plugins, the HEIF opener), so workers forked
from the server start warm. The build process itself never imports it.
"""

from PIL import Image

from generator.derivatives import make_photo
from jobgallery.images import enable_heif

enable_heif()
Image.init()

__all__ = ["make_photo"]

"""What a derivative worker needs, loaded once by the pool's fork server.

Importing this module does the work every worker would otherwise repeat on
its first photo (Pillow's format plugins, the HEIF opener, LittleCMS and the
sRGB profile), so workers forked from the server start warm. The build
process itself never imports it.
"""

from PIL import Image

from generator.colour import srgb_profile
from generator.derivatives import make_photo
from jobgallery.images import enable_heif

enable_heif()
Image.init()
srgb_profile()

__all__ = ["make_photo"]

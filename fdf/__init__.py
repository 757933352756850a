"""fdf: rebuild, audit and grow FDF-style face datasets from Creative Commons Flickr photos.

Data flows one way: sources -> manifest -> download -> annotate -> select -> shards -> audit.
Each stage is an importable function; the ``fdf`` command is a thin layer over them.
"""

__version__ = "0.1.0"

"""One package per web framework, each a thin layer over :mod:`pixel_embed.core`.

Importing this package imports no framework; each subpackage imports its own.
"""

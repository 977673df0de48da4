"""Segment-compatible mappings: Segment-spec calls in, the TikTok calls Segment's "TikTok Pixel"
destination would make out (hashed on the server)."""

from .adapter import SegmentAdapter as SegmentAdapter
from .adapter import mappings_from_config as mappings_from_config
from .mappings import MULTI_PRODUCT as MULTI_PRODUCT
from .mappings import PRODUCT_ITEM as PRODUCT_ITEM
from .mappings import SINGLE_PRODUCT as SINGLE_PRODUCT
from .mappings import MappedCall as MappedCall
from .mappings import MappingError as MappingError
from .mappings import SegmentMapping as SegmentMapping
from .mappings import first_of as first_of
from .mappings import path as path
from .paths import MISSING as MISSING
from .paths import read_path as read_path
from .presets import SegmentMappings as SegmentMappings

__all__ = [
    "MISSING",
    "MULTI_PRODUCT",
    "PRODUCT_ITEM",
    "SINGLE_PRODUCT",
    "MappedCall",
    "MappingError",
    "SegmentAdapter",
    "SegmentMapping",
    "SegmentMappings",
    "first_of",
    "mappings_from_config",
    "path",
    "read_path",
]

"""SharpEyes: the GIS command platform of a public-security video network."""

__version__ = "0.1.0"

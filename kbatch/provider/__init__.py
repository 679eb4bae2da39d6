"""Kling and its gateways: the catalogue (as data), the wire format, auth and the HTTP client."""

"""Country from an IP address with a MaxMind-format database (GeoLite2-Country, DB-IP, ...).

The address is only looked up, never kept: the collector drops it right after this.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

import maxminddb

from ..errors import ClickpulseError


class GeoIP:
    def __init__(self, path: str | Path):
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
            raise ClickpulseError(f"cannot open the GeoIP database {path} (COLLECTOR_GEOIP_DB): {e}") from e
        self.country = lru_cache(maxsize=65536)(self._country)

    def _country(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast:
            return None
        try:
            rec = self._reader.get(addr)
        except ValueError:
            return None
        if not isinstance(rec, dict):
            return None
        for key in ("country", "registered_country"):
            code = (rec.get(key) or {}).get("iso_code")
            if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
                return code.upper()
        return None

    def close(self) -> None:
        self._reader.close()

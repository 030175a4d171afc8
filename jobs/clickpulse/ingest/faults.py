"""The imperfections real traffic has, each chosen so that the pipeline's verdict on it is
unambiguous (tests compare exact numbers, so no event may sit on a boundary):

- out of order: held back and sent at most half the watermark delay behind the newest
  event time sent so far (held records go out at chunk boundaries, so their jitter is
  half the delay minus one chunk of event time), so it is never late;
- late: stamped 1-10 minutes further behind than the watermark delay, and only after a
  warm-up, so every partition's watermark has certainly passed it;
- duplicate: the identical payload (same event_id) sent again, within half the delay;
- malformed: not JSON, a required field missing, or a wrong type — the site_id is kept so
  that invalid events stay attributable to their site.

Records end with `"ts":<ms>}` (the generator and the replay write them so), which is what
lets a late copy get a new time without parsing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WARMUP_RECORDS = 1000
LATE_MIN_MS, LATE_MAX_MS = 60_000, 600_000
MALFORMED_KINDS = ("not_json", "missing_field", "wrong_type")
# required fields a malformed record may lose; site_id stays (see above)
DROPPABLE = ("event_id", "event_type", "user_id", "page")


@dataclass
class FaultRates:
    out_of_order: float = 0.0
    late: float = 0.0
    duplicates: float = 0.0
    malformed: float = 0.0

    @property
    def total(self) -> float:
        return self.out_of_order + self.late + self.duplicates + self.malformed


DEMO_RATES = FaultRates(out_of_order=0.02, late=0.002, duplicates=0.005, malformed=0.002)


def restamp(value: str, ts: int) -> str:
    return value[:value.rindex(',"ts":')] + ',"ts":' + str(ts) + "}"


def late_ts(newest_ts: int, watermark_delay_ms: int, rng: random.Random) -> int:
    return max(0, newest_ts - watermark_delay_ms - rng.randint(LATE_MIN_MS, LATE_MAX_MS))


def malform(value: str, ts: int, rng: random.Random) -> tuple[str, str]:
    """(broken record, kind)."""
    kind = MALFORMED_KINDS[int(rng.random() * len(MALFORMED_KINDS))]
    if kind == "not_json":
        return value[: len(value) // 2], kind
    if kind == "missing_field":
        field = DROPPABLE[int(rng.random() * len(DROPPABLE))]
        # renaming keeps the record well-formed JSON; the pipeline ignores the unknown key
        return value.replace(f'"{field}":', f'"{field}_":', 1), kind
    return value[:value.rindex(',"ts":')] + ',"ts":"' + str(ts) + '"}', kind

"""The Flink SQL of the alert rules: views shared by every rule, then one SELECT per rule
whose rows are the rule's transitions, with the columns of the `alerts` table (the contract
in docs/design.md, *Alerts*). The runner adds them to the events job's statement set, with
a JDBC upsert sink (table `alerts`) and a Kafka sink (topic `clickpulse.alerts`).

The method (README *Alerts* states it for users):
- a site's minute: the counts of a HOP window (slide 1 minute, as long as the longest
  rule's window + baseline) over the site's per-minute counts, so minutes with nothing in
  them are zeros; each rule sums the minutes of its own window and baseline;
- value: the sum of the last `window` minutes (a ratio of two sums for conversion);
- anomaly band: mean and standard deviation of the `baseline` minutes before the window,
  leaving out the lowest and the highest of them (a trimmed rolling z-score: it follows
  the daily cycle, which moves little within half an hour, and one earlier incident minute
  in the baseline does not hide the next incident),
  expected = window x mean, sd = max(sqrt(window) x std, sqrt(expected) (Poisson noise),
  1); the band is expected -+ z x sd, widened to at least expected x (1 -+ min_change),
  and an upper edge of at least min_value (bots);
- a site is not judged until its first event is a whole baseline behind (warming up);
- AlertStep.java turns breaking minutes into transitions; from the first breaking minute
  of a run until the resolve it judges against that minute's band (the baseline soon
  holds the incident itself), and for anomaly and bot-flood rules against the tighter of
  that band and the current one until the run's last minute has left the baseline (an
  incident of several minutes would otherwise widen the band enough to hide the next).
"""

from __future__ import annotations

from .rules import Rule, _quote, _series

# Baselines of at least this many minutes leave out their lowest and highest minute.
TRIM_FROM = 10

FUNCTIONS = ("CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS alert_step AS "
             "'dev.clickpulse.flink.alert.AlertStep' LANGUAGE JAVA")

# Valid on-time first copies of every site's events, people's and bots' (views.sql).
ACTIVITY = """CREATE TEMPORARY VIEW alert_activity AS
SELECT site_id, event_type, page, properties, event_time, FALSE AS is_bot FROM events_clean
UNION ALL
SELECT site_id, CAST(NULL AS STRING) AS event_type, CAST(NULL AS STRING) AS page, CAST(NULL AS STRING) AS properties,
  event_time, TRUE AS is_bot
FROM bot_events_stream"""

COLUMNS = [("alert_id", "STRING"), ("rule", "STRING"), ("kind", "STRING"), ("severity", "STRING"),
           ("site_id", "STRING"), ("metric", "STRING"), ("state", "STRING"), ("value", "DOUBLE"),
           ("expected_low", "DOUBLE"), ("expected_high", "DOUBLE"), ("window_start", "TIMESTAMP(3)"),
           ("window_end", "TIMESTAMP(3)"), ("fired_at", "TIMESTAMP(3)"), ("resolved_at", "TIMESTAMP(3)"),
           ("channels", "ARRAY<STRING>"), ("message", "STRING")]
# The table keeps the channels as the text of the JSON list (`channels_json`): the JDBC
# connector writes no ARRAY columns; the topic carries them as a JSON array.


def _filters(rules: list[Rule], funnels: list) -> list[str]:
    """The distinct count filters the rules need, in a stable order (column n_<i>)."""
    out: list[str] = []
    for r in rules:
        num, den = _series(r.metric, funnels)
        for f in (num, den):
            if f is not None and f not in out:
                out.append(f)
    return out


def views(rules: list[Rule], funnels: list) -> list[str]:
    """Statements to run once, after sql/views.sql, before any rule's SELECT: the per-site
    minute counts and ONE HOP window over them for every rule (each window aggregation
    costs the job a share of the TaskManager's managed memory, so the rules share it)."""
    filters = _filters(rules, funnels)
    counts = ",\n  ".join(f"CAST(COUNT(*) FILTER (WHERE {f}) AS DOUBLE) AS n_{i}" for i, f in enumerate(filters))
    minutes = f"""CREATE TEMPORARY VIEW alert_site_minutes AS
SELECT site_id, window_start AS m_start, window_end AS m_end, window_time AS m_time,
  {counts}
FROM TABLE(TUMBLE(TABLE alert_activity, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY site_id, window_start, window_end, window_time"""
    sums = []
    for i, r in enumerate(rules):
        num, den = _col(rules, funnels, r)
        recent = f"m_end > window_end - INTERVAL '{r.window_minutes}' MINUTE"
        inside = f"m_end > window_end - INTERVAL '{_minutes(r)}' MINUTE"
        base = f"{inside} AND NOT ({recent})"
        sums += [f"SUM(CASE WHEN {recent} THEN {num} ELSE 0 END) AS cur_num_{i}",
                 f"SUM(CASE WHEN {base} THEN {num} ELSE 0 END) AS base_num_{i}",
                 f"SUM(CASE WHEN {base} THEN {num} * {num} ELSE 0 END) AS base_sq_{i}",
                 f"SUM(CASE WHEN {base} THEN 1 ELSE 0 END) AS base_minutes_{i}",
                 f"MIN(CASE WHEN {base} THEN {num} END) AS base_min_{i}",
                 f"MAX(CASE WHEN {base} THEN {num} END) AS base_max_{i}",
                 f"MIN(CASE WHEN {inside} THEN m_start END) AS first_seen_{i}"]
        if den:
            sums += [f"SUM(CASE WHEN {recent} THEN {den} ELSE 0 END) AS cur_den_{i}",
                     f"SUM(CASE WHEN {base} THEN {den} ELSE 0 END) AS base_den_{i}"]
    longest = max(_minutes(r) for r in rules)
    columns = ",\n  ".join(sums)
    windows = f"""CREATE TEMPORARY VIEW alert_site_windows AS
SELECT site_id, window_end, window_time,
  {columns}
FROM TABLE(HOP(TABLE alert_site_minutes, DESCRIPTOR(m_time), INTERVAL '1' MINUTE, INTERVAL '{longest}' MINUTE))
GROUP BY site_id, window_start, window_end, window_time"""
    return [FUNCTIONS, ACTIVITY, minutes, windows]


def _col(rules: list[Rule], funnels: list, rule: Rule) -> tuple[str, str | None]:
    filters = _filters(rules, funnels)
    num, den = _series(rule.metric, funnels)
    return f"n_{filters.index(num)}", (f"n_{filters.index(den)}" if den else None)


def _minutes(rule: Rule) -> int:
    """How many minutes of a site's counts the rule reads: the window and the baseline
    (for a threshold rule: how long a site that sends nothing is still followed, at least
    `for` + `cooldown` minutes)."""
    if rule.kind == "threshold":
        return rule.window_minutes + max(rule.baseline_minutes, rule.for_minutes + rule.cooldown_minutes)
    return rule.hop_minutes


def _hop(rule: Rule, rules: list[Rule], funnels: list) -> str:
    """The rule's columns of the shared HOP window, for the sites it watches, in the
    minutes it can see (the site sent something within its window + baseline)."""
    i = rules.index(rule)
    den = (f", cur_den_{i} AS cur_den, base_den_{i} AS base_den"
           if _col(rules, funnels, rule)[1] else "")
    scope = f" AND site_id IN ({', '.join(_quote(s) for s in rule.sites)})" if rule.sites else ""
    return f"""SELECT site_id, window_end - INTERVAL '{_minutes(rule)}' MINUTE AS hop_start, window_end, window_time,
    cur_num_{i} AS cur_num, base_num_{i} AS base_num, base_sq_{i} AS base_sq{den}, first_seen_{i} AS first_seen,
    base_minutes_{i} AS base_minutes, base_min_{i} AS base_min, base_max_{i} AS base_max
  FROM alert_site_windows
  WHERE first_seen_{i} IS NOT NULL{scope}"""


def _judged(rule: Rule, hop: str) -> str:
    """site_id, window_start/end (the judged minute), window_time, value, expected_low,
    expected_high, breaking (NULL while the rule cannot judge the site)."""
    w, b = rule.window_minutes, rule.baseline_minutes
    head = "SELECT site_id, window_end - INTERVAL '1' MINUTE AS window_start, window_end, window_time"
    if rule.kind == "threshold":
        low = f"CAST({rule.threshold!r} AS DOUBLE)" if rule.op in ("<", "<=") else "CAST(NULL AS DOUBLE)"
        high = f"CAST({rule.threshold!r} AS DOUBLE)" if rule.op in (">", ">=") else "CAST(NULL AS DOUBLE)"
        # judged once the site has been followed for the whole window
        breaking = (f"CASE WHEN first_seen <= window_end - INTERVAL '{w}' MINUTE "
                    f"THEN cur_num {rule.op} {rule.threshold!r} END")
        return f"{head},\n  cur_num AS `value`, {low} AS expected_low, {high} AS expected_high,\n  {breaking} AS breaking\nFROM ({hop})"
    if rule.kind == "funnel_drop":
        p = "CASE WHEN base_den > 0 THEN base_num / base_den END"
        v = "CASE WHEN cur_den > 0 THEN cur_num / cur_den END"
        inner = f"""SELECT site_id, window_end, window_time, cur_den, base_den, {p} AS p, {v} AS v FROM ({hop})"""
        judged = (f"CASE WHEN cur_den >= {rule.min_count!r} AND base_den >= {rule.min_count!r} AND p > 0 THEN "
                  f"v < p * (1 - {rule.drop!r}) AND p - v > {rule.z!r} * SQRT(p * (1 - p) / cur_den) END")
        return (f"{head},\n  v AS `value`, p * (1 - {rule.drop!r}) AS expected_low, CAST(NULL AS DOUBLE) AS expected_high,"
                f"\n  {judged} AS breaking\nFROM ({inner})")
    trimmed, n = _trimmed(hop, b)
    mean = f"t_num / {n}"
    var = f"GREATEST(t_sq / {n} - POWER({mean}, 2), 0)"
    inner = f"""SELECT site_id, hop_start, window_end, window_time, first_seen, cur_num,
    {w} * {mean} AS expected, GREATEST(SQRT({w} * {var}), SQRT({w} * {mean}), 1.0) AS sd
  FROM ({trimmed})"""
    low = f"GREATEST(LEAST(expected - {rule.z!r} * sd, expected * (1 - {rule.min_change!r})), 0.0)"
    high = f"GREATEST(expected + {rule.z!r} * sd, expected * (1 + {rule.min_change!r}), {rule.min_value!r})"
    outside = {"below": "cur_num < low", "above": "cur_num > high",
               "both": "(cur_num < low OR cur_num > high)"}[rule.direction]
    banded = f"""SELECT site_id, hop_start, window_end, window_time, first_seen, cur_num, {low} AS low, {high} AS high
  FROM ({inner})"""
    # only the edges the rule watches (AlertStep judges a running incident against them)
    low_col = "low" if rule.direction in ("below", "both") else "CAST(NULL AS DOUBLE)"
    high_col = "high" if rule.direction in ("above", "both") else "CAST(NULL AS DOUBLE)"
    return (f"{head},\n  cur_num AS `value`, {low_col} AS expected_low, {high_col} AS expected_high,\n"
            f"  CASE WHEN first_seen <= hop_start THEN {outside} END AS breaking\nFROM ({banded})")


def _trimmed(hop: str, baseline: int) -> tuple[str, int]:
    """The baseline's sum and sum of squares without its lowest and its highest minute
    (t_num, t_sq), and how many minutes they cover, so that one earlier incident minute in the baseline, a drop to zero or a
    burst, does not widen the band enough to hide the next one. A minute the site sent
    nothing in has no row and counts 0, so the lowest minute is 0 while fewer than
    `baseline` minutes have rows. Baselines shorter than TRIM_FROM minutes are not trimmed."""
    if baseline < TRIM_FROM:
        return f"SELECT *, base_num AS t_num, base_sq AS t_sq FROM ({hop})", baseline
    low = f"CASE WHEN base_minutes < {baseline} THEN 0.0 ELSE base_min END"
    high = "COALESCE(base_max, 0.0)"
    return f"""SELECT *, base_num - low_minute - high_minute AS t_num,
    base_sq - low_minute * low_minute - high_minute * high_minute AS t_sq
  FROM (SELECT *, {low} AS low_minute, {high} AS high_minute FROM ({hop}))""", baseline - 2


def _hold(rule: Rule) -> int:
    """How long a breaking run's band keeps judging after it (AlertStep): until its last
    minute has left the trailing baseline, for the banded kinds; 0 for fixed thresholds and
    for funnel drops (an hour's baseline, in which a run of minutes weighs little)."""
    return rule.hop_minutes if rule.kind in ("anomaly", "bot_flood") else 0


def transitions(rule: Rule, rules: list[Rule], funnels: list) -> str:
    """The rule's SELECT: one row per transition, the columns of COLUMNS."""
    judged = _judged(rule, _hop(rule, rules, funnels))
    stepped = f"""SELECT j.*, alert_step(breaking, CAST(`value` AS DOUBLE), CAST(expected_low AS DOUBLE), CAST(expected_high AS DOUBLE),
      window_start, {rule.for_minutes}, {rule.cooldown_minutes}, {_hold(rule)}) OVER (
      PARTITION BY site_id ORDER BY window_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS t
  FROM ({judged}) j"""
    channels = "ARRAY[" + ", ".join(_quote(c) for c in rule.channels) + "]"
    band = "CAST(NULLIF(SPLIT_INDEX(t, ':', {0}), '') AS DOUBLE)"
    num_s = "COALESCE(CAST(ROUND({0}, 3) AS STRING), '-')"
    message = (f"CONCAT({_quote(rule.name)}, ' ', SPLIT_INDEX(t, ':', 0), ' on ', site_id, ': ', "
               f"{_quote(rule.metric)}, ' = ', {num_s.format('`value`')}, ' in the minute to ', "
               f"DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm'), ' UTC (expected ', {num_s.format(band.format(3))}, "
               f"' .. ', {num_s.format(band.format(4))}, ')')")
    return f"""SELECT
  SHA256(CONCAT_WS('|', {_quote(rule.name)}, site_id, SPLIT_INDEX(t, ':', 1))) AS alert_id,
  CAST({_quote(rule.name)} AS STRING) AS rule, CAST({_quote(rule.kind)} AS STRING) AS kind,
  CAST({_quote(rule.severity)} AS STRING) AS severity, site_id, CAST({_quote(rule.metric)} AS STRING) AS metric,
  SPLIT_INDEX(t, ':', 0) AS state, CAST(`value` AS DOUBLE) AS `value`,
  CAST(NULLIF(SPLIT_INDEX(t, ':', 3), '') AS DOUBLE) AS expected_low,
  CAST(NULLIF(SPLIT_INDEX(t, ':', 4), '') AS DOUBLE) AS expected_high,
  CAST(window_start AS TIMESTAMP(3)) AS window_start, CAST(window_end AS TIMESTAMP(3)) AS window_end,
  CAST(TO_TIMESTAMP_LTZ(CAST(SPLIT_INDEX(t, ':', 2) AS BIGINT), 3) AS TIMESTAMP(3)) AS fired_at,
  CASE WHEN SPLIT_INDEX(t, ':', 0) = 'resolved' THEN CAST(window_end AS TIMESTAMP(3)) END AS resolved_at,
  {channels} AS channels,
  {message} AS message,
  JSON_ARRAY({", ".join(_quote(c) for c in rule.channels)}) AS channels_json
FROM ({stepped})
WHERE t IS NOT NULL"""


def all_transitions(rules: list[Rule], funnels: list) -> str:
    """Every in-stream rule's transitions as one SELECT (what the sinks read)."""
    judged = [r for r in rules if r.in_stream]
    return "\nUNION ALL\n".join(f"({transitions(r, judged, funnels)})" for r in judged)

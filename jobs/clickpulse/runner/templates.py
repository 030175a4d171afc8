"""SQL files that are templates: Jinja blocks rendered with the funnel definitions of
sql/funnels.yaml (`funnels`: sql/funnel_views.sql, and any metric file that has blocks) and
the promoted properties of sql/properties.yaml (`properties`: events_per_minute). Plain
files are used as they are."""

from __future__ import annotations

from pathlib import Path

import jinja2

from ..errors import ClickpulseError
from .funnels import load_funnels
from .properties import load_properties


def render_template(path: Path, text: str) -> str:
    if "{%" not in text and "{{" not in text:
        return text

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return env.from_string(text).render(funnels=load_funnels(), properties=load_properties())
    except jinja2.TemplateSyntaxError as e:
        raise ClickpulseError(f"{path}:{e.lineno}: {e.message}") from None
    except jinja2.TemplateError as e:
        raise ClickpulseError(f"{path}:1: {e}") from None

# The official Superset image plus the PostgreSQL driver and the clickpulse package
# (for `clickpulse dashboards sync` and the config's settings), and Debian's Chromium with
# Playwright for the screenshots of scheduled reports (clickpulse/stack/chromium.py).
FROM apache/superset:6.1.0
USER root
RUN apt-get update && apt-get install -y --no-install-recommends chromium && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml constraints.txt README.md /opt/clickpulse/
COPY jobs /opt/clickpulse/jobs
COPY superset /opt/clickpulse/superset
COPY sql /opt/clickpulse/sql
RUN uv pip install --python /app/.venv/bin/python --no-cache psycopg2-binary==2.9.13 "psycopg[binary]==3.3.9" \
      "pydantic-settings==2.16.3" "typer==0.29.2" PyYAML httpx "playwright==1.65.2" \
    && uv pip install --python /app/.venv/bin/python --no-deps -e /opt/clickpulse
ENV SUPERSET_CONFIG_PATH=/opt/clickpulse/superset/superset_config.py CLICKPULSE_HOME=/app/superset_home/clickpulse
USER superset

# Flink 2.0.2 (the version pyflink is pinned to) with PyFlink, the pinned connector jars,
# the event-parser UDF and the clickpulse package. Used for the JobManager, the
# TaskManager and the clickpulse CLI/collector/generator containers in docker-compose.yml.
FROM maven:3.9-eclipse-temurin-17 AS udf
COPY connectors/event-parser /src
RUN cd /src && mvn -q -B package -DskipTests

FROM flink:2.0.2-scala_2.12-java17
USER root
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-pip python3-venv curl \
    && rm -rf /var/lib/apt/lists/* && ln -sf /usr/bin/python3 /usr/bin/python
# Connector jars by pinned version and checksum (the same list the embedded stack uses).
COPY connectors/jars.toml /tmp/jars.toml
RUN python3 - <<'PY'
import hashlib, tomllib, urllib.request
for j in tomllib.load(open("/tmp/jars.toml", "rb"))["jar"]:
    g, a, v = j["coordinates"].split(":")
    url = f"https://repo1.maven.org/maven2/{g.replace('.', '/')}/{a}/{v}/{a}-{v}.jar"
    data = urllib.request.urlopen(url).read()
    assert hashlib.sha1(data).hexdigest() == j["sha1"], url
    open(f"/opt/flink/lib/{a}-{v}.jar", "wb").write(data)
PY
COPY --from=udf /src/target/clickpulse-event-parser.jar /opt/flink/lib/
WORKDIR /opt/clickpulse
COPY pyproject.toml constraints.txt README.md ./
COPY jobs ./jobs
COPY sql ./sql
COPY connectors ./connectors
COPY schema ./schema
COPY superset ./superset
COPY infra ./infra
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q -c constraints.txt -e . \
    && mkdir -p connectors/event-parser/target && cp /opt/flink/lib/clickpulse-event-parser.jar connectors/event-parser/target/
ENV PATH=/opt/venv/bin:$PATH PYFLINK_CLIENT_EXECUTABLE=/opt/venv/bin/python CLICKPULSE_CACHE=/opt/clickpulse/.cache
RUN mkdir -p /opt/clickpulse/.cache/jars && cp /opt/flink/lib/flink-*connector*.jar /opt/flink/lib/postgresql-*.jar /opt/clickpulse/.cache/jars/ \
    && chown -R flink:flink /opt/clickpulse
USER flink

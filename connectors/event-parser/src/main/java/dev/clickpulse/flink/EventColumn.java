package dev.clickpulse.flink;

import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.util.ArrayList;
import java.util.List;

/**
 * The columns the clickpulse-event format can produce, by name: the one list of the
 * {@code raw_events} columns. The source tables' DDL (connectors/kafka_source.sql,
 * connectors/recorded_source.sql) is generated from it by {@link #ddl(boolean)}, so adding a
 * column here (and filling it in EventDeserializationSchema) is all a new column takes.
 */
public enum EventColumn {
    EVENT_ID("event_id", LogicalTypeRoot.VARCHAR),
    EVENT_TYPE("event_type", LogicalTypeRoot.VARCHAR),
    SITE_ID("site_id", LogicalTypeRoot.VARCHAR),
    USER_ID("user_id", LogicalTypeRoot.VARCHAR),
    SESSION_ID("session_id", LogicalTypeRoot.VARCHAR),
    TS("ts", LogicalTypeRoot.BIGINT),
    PAGE("page", LogicalTypeRoot.VARCHAR),
    REFERRER("referrer", LogicalTypeRoot.VARCHAR),
    COUNTRY("country", LogicalTypeRoot.VARCHAR),
    DEVICE("device", LogicalTypeRoot.VARCHAR),
    PLAN("plan", LogicalTypeRoot.VARCHAR),
    PROPERTIES("properties", LogicalTypeRoot.VARCHAR),
    SCHEMA_VERSION("schema_version", LogicalTypeRoot.INTEGER),
    /** Why the collector judged the event a bot's (user_agent, rate); NULL for people. */
    BOT("bot", LogicalTypeRoot.VARCHAR),
    /** Campaign tags from the page's URL (the snippet, or the collector from a page with a query). */
    UTM_SOURCE("utm_source", LogicalTypeRoot.VARCHAR),
    UTM_MEDIUM("utm_medium", LogicalTypeRoot.VARCHAR),
    UTM_CAMPAIGN("utm_campaign", LogicalTypeRoot.VARCHAR),
    /** The referrer's host (EventContract.referrerDomain), derived, never sent. */
    REFERRER_DOMAIN("referrer_domain", LogicalTypeRoot.VARCHAR),
    /** The reason a record is not a valid event, NULL for events and ticks. */
    ERROR("error", LogicalTypeRoot.VARCHAR),
    /** The raw record, kept only for invalid ones (it goes to the dead-letter topic). */
    PAYLOAD("payload", LogicalTypeRoot.VARCHAR),
    /** A clock tick from `clickpulse ticker`: moves event time while no events arrive. */
    TICK("tick", LogicalTypeRoot.BOOLEAN),
    /**
     * Whether the event is behind its Kafka partition's newest event time by the watermark
     * delay or more: set by the clickpulse-judged source as the record is read, NULL from the
     * format alone (it sees one record at a time).
     */
    IS_LATE("is_late", LogicalTypeRoot.BOOLEAN),
    KAFKA_TS_MS("kafka_ts_ms", LogicalTypeRoot.BIGINT, true),
    KAFKA_PARTITION("kafka_partition", LogicalTypeRoot.INTEGER, true),
    KAFKA_OFFSET("kafka_offset", LogicalTypeRoot.BIGINT, true);

    final String column;
    final LogicalTypeRoot type;
    final boolean envelopeOnly;

    /** Flink SQL's name of each type the format produces. */
    private static String sqlType(LogicalTypeRoot type) {
        switch (type) {
            case VARCHAR:
                return "STRING";
            case BIGINT:
                return "BIGINT";
            case INTEGER:
                return "INT";
            case BOOLEAN:
                return "BOOLEAN";
            default:
                throw new IllegalStateException("no SQL type for " + type);
        }
    }

    /**
     * The physical columns of a source table in this format, one {@code name TYPE} per line:
     * the events topic's ({@code envelope = false}) or a file of recorded Kafka records'
     * ({@code envelope = true}, which adds the record's Kafka time, partition and offset).
     */
    public static String ddl(boolean envelope) {
        List<String> out = new ArrayList<>();
        for (EventColumn c : values()) {
            if (envelope || !c.envelopeOnly) {
                out.add("  " + c.column + " " + sqlType(c.type));
            }
        }
        return String.join(",\n", out);
    }

    EventColumn(String column, LogicalTypeRoot type) {
        this(column, type, false);
    }

    EventColumn(String column, LogicalTypeRoot type, boolean envelopeOnly) {
        this.column = column;
        this.type = type;
        this.envelopeOnly = envelopeOnly;
    }

    static EventColumn byName(String name) {
        for (EventColumn c : values()) {
            if (c.column.equals(name)) {
                return c;
            }
        }
        return null;
    }

    static String names(boolean envelope) {
        List<String> out = new ArrayList<>();
        for (EventColumn c : values()) {
            if (envelope || !c.envelopeOnly) {
                out.add(c.column);
            }
        }
        return String.join(", ", out);
    }
}

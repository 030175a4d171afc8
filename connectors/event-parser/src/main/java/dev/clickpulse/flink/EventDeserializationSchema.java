package dev.clickpulse.flink;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

import java.nio.charset.StandardCharsets;

/** Turns one record into one row of the columns the table asked for (see EventFormatFactory). */
final class EventDeserializationSchema implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

    private final EventColumn[] columns;
    private final boolean envelope;
    private final long maxFutureMs;
    private final TypeInformation<RowData> producedType;
    private transient ObjectMapper mapper;

    EventDeserializationSchema(EventColumn[] columns, boolean envelope, long maxFutureMs,
                               TypeInformation<RowData> producedType) {
        this.columns = columns;
        this.envelope = envelope;
        this.maxFutureMs = maxFutureMs;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) {
        mapper = newMapper();
    }

    /** Strict JSON: "{} trailing" is not JSON (as for any other JSON parser, e.g. the reference's). */
    private static ObjectMapper newMapper() {
        return new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    /** What one record turned out to be. */
    private static final class Parsed {
        EventContract.Event event;
        String error;
        String siteId;
        String payload;
        long ts;
        boolean tick;
        Long kafkaTsMs;
        Integer kafkaPartition;
        Long kafkaOffset;
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (mapper == null) {
            mapper = newMapper();
        }
        Parsed p = new Parsed();
        byte[] record = message;
        if (envelope) {
            record = unwrap(message, p);
        }
        parse(record, p);
        GenericRowData row = new GenericRowData(columns.length);
        for (int i = 0; i < columns.length; i++) {
            row.setField(i, value(columns[i], p));
        }
        return row;
    }

    private byte[] unwrap(byte[] message, Parsed p) {
        try {
            JsonNode env = mapper.readTree(message);
            p.kafkaTsMs = env.path("kafka_ts_ms").isIntegralNumber() ? env.get("kafka_ts_ms").longValue() : null;
            p.kafkaPartition = env.path("kafka_partition").isIntegralNumber() ? env.get("kafka_partition").intValue() : null;
            p.kafkaOffset = env.path("kafka_offset").isIntegralNumber() ? env.get("kafka_offset").longValue() : null;
            JsonNode payload = env.get("payload");
            return payload == null || payload.isNull() ? null : payload.asText().getBytes(StandardCharsets.UTF_8);
        } catch (Exception e) {
            return message;
        }
    }

    private void parse(byte[] record, Parsed p) {
        if (record == null || record.length == 0) {
            p.error = "empty payload";
            p.payload = "";
            return;
        }
        JsonNode o;
        try {
            o = mapper.readTree(record);
        } catch (Exception e) {
            invalid(p, record, null, "not JSON");
            return;
        }
        if (o == null || o.isMissingNode()) {
            invalid(p, record, null, "empty payload");
            return;
        }
        if (o != null && o.isObject() && "tick".equals(o.path("$clickpulse").asText(null))) {
            JsonNode ts = o.get("ts");
            if (ts != null && ts.isIntegralNumber() && ts.longValue() > 0
                    && ts.longValue() <= System.currentTimeMillis() + maxFutureMs) {
                p.tick = true;
                p.ts = ts.longValue();
                return;
            }
        }
        try {
            p.event = EventContract.parse(o, System.currentTimeMillis(), maxFutureMs);
            p.ts = p.event.ts;
        } catch (EventContract.Invalid e) {
            invalid(p, record, o, e.getMessage());
        }
    }

    private static void invalid(Parsed p, byte[] record, JsonNode o, String reason) {
        p.error = reason;
        p.payload = new String(record, StandardCharsets.UTF_8);
        if (o != null && o.isObject()) {
            JsonNode site = o.get("site_id");
            if (site != null && site.isTextual() && !site.textValue().isEmpty() && site.textValue().length() <= 128) {
                p.siteId = site.textValue();
            }
        }
    }

    private static Object value(EventColumn c, Parsed p) {
        EventContract.Event e = p.event;
        switch (c) {
            case TS:
                return p.ts;
            case ERROR:
                return str(p.error);
            case PAYLOAD:
                return str(p.payload);
            case TICK:
                return p.tick;
            case IS_LATE:
                return null;  // judged per partition by the clickpulse-judged source
            case SITE_ID:
                return str(e != null ? e.siteId : p.siteId);
            case KAFKA_TS_MS:
                return p.kafkaTsMs;
            case KAFKA_PARTITION:
                return p.kafkaPartition;
            case KAFKA_OFFSET:
                return p.kafkaOffset;
            default:
                break;
        }
        if (e == null) {
            return null;
        }
        switch (c) {
            case EVENT_ID:
                return str(e.eventId);
            case EVENT_TYPE:
                return str(e.eventType);
            case USER_ID:
                return str(e.userId);
            case SESSION_ID:
                return str(e.sessionId);
            case PAGE:
                return str(e.page);
            case REFERRER:
                return str(e.referrer);
            case COUNTRY:
                return str(e.country);
            case DEVICE:
                return str(e.device);
            case PLAN:
                return str(e.plan);
            case PROPERTIES:
                return str(e.properties);
            case SCHEMA_VERSION:
                return e.schemaVersion;
            case BOT:
                return str(e.bot);
            case UTM_SOURCE:
                return str(e.utmSource);
            case UTM_MEDIUM:
                return str(e.utmMedium);
            case UTM_CAMPAIGN:
                return str(e.utmCampaign);
            case REFERRER_DOMAIN:
                return str(e.referrerDomain);
            default:
                throw new IllegalStateException("unmapped column " + c);
        }
    }

    private static StringData str(String s) {
        return s == null ? null : StringData.fromString(s);
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}

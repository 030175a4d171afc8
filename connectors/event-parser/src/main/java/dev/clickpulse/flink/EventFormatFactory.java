package dev.clickpulse.flink;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code 'format' = 'clickpulse-event'}: reads one clickstream event per record and parses
 * and validates it once, before the watermark is assigned, so that a malformed record can
 * never stall or fail the job. Columns are matched by name (see {@link EventColumn}); a
 * bad record yields a row with only {@code error}, {@code payload} and whatever
 * {@code site_id} could be read, and {@code ts = 0} so it never moves the watermark.
 */
public class EventFormatFactory implements DeserializationFormatFactory {
    public static final String IDENTIFIER = "clickpulse-event";

    public static final ConfigOption<Boolean> ENVELOPE = ConfigOptions.key("envelope")
            .booleanType()
            .defaultValue(false)
            .withDescription("Each record is {\"payload\": \"<event JSON>\", \"kafka_ts_ms\": .., "
                    + "\"kafka_partition\": .., \"kafka_offset\": ..}: how tests feed recorded Kafka "
                    + "records through a file source.");

    public static final ConfigOption<Long> MAX_FUTURE_MS = ConfigOptions.key("max-future-ms")
            .longType()
            .defaultValue(60_000L)
            .withDescription("Events stamped further ahead of the wall clock are invalid.");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        final boolean envelope = formatOptions.get(ENVELOPE);
        final long maxFutureMs = formatOptions.get(MAX_FUTURE_MS);
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context ctx, DataType physicalDataType) {
                RowType rowType = (RowType) physicalDataType.getLogicalType();
                List<String> names = rowType.getFieldNames();
                EventColumn[] columns = new EventColumn[names.size()];
                for (int i = 0; i < columns.length; i++) {
                    columns[i] = column(names.get(i), rowType.getTypeAt(i), envelope);
                }
                return new EventDeserializationSchema(
                        columns, envelope, maxFutureMs, ctx.createTypeInformation(physicalDataType));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    private static EventColumn column(String name, LogicalType type, boolean envelope) {
        EventColumn c = EventColumn.byName(name);
        if (c == null || (c.envelopeOnly && !envelope)) {
            throw new ValidationException("format '" + IDENTIFIER + "' has no column `" + name + "`; columns: "
                    + EventColumn.names(envelope));
        }
        if (type.getTypeRoot() != c.type) {
            throw new ValidationException("format '" + IDENTIFIER + "': column `" + name + "` must be "
                    + c.type + ", not " + type);
        }
        return c;
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return new HashSet<>();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(ENVELOPE);
        options.add(MAX_FUTURE_MS);
        return options;
    }
}

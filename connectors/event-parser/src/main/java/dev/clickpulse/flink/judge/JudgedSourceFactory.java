package dev.clickpulse.flink.judge;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.ResolvedCatalogTable;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;

import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * {@code 'connector' = 'clickpulse-judged'}: another connector's source ({@code 'inner' =
 * 'kafka'} for the events topic, {@code 'filesystem'} for recorded records in tests; every
 * other option is the inner connector's), with each record judged late, on time or a copy
 * per Kafka partition as it is read ({@code 'late-after-ms'}: how far behind its partition's
 * newest event time a record is late). The table needs the event format's columns
 * {@code event_id, ts, tick, error, is_late} and the partition and offset (metadata
 * {@code partition}/{@code offset}, or columns {@code kafka_partition}/{@code kafka_offset}).
 */
public final class JudgedSourceFactory implements DynamicTableSourceFactory {
    public static final String IDENTIFIER = "clickpulse-judged";

    public static final ConfigOption<String> INNER = ConfigOptions.key("inner").stringType().noDefaultValue()
            .withDescription("The connector whose source is judged, e.g. kafka.");
    public static final ConfigOption<Long> LATE_AFTER_MS = ConfigOptions.key("late-after-ms").longType()
            .noDefaultValue()
            .withDescription("A record this far or further behind its partition's newest event time is late.");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> out = new HashSet<>();
        out.add(INNER);
        out.add(LATE_AFTER_MS);
        return out;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        ResolvedCatalogTable table = context.getCatalogTable();
        Map<String, String> options = new HashMap<>(table.getOptions());
        String inner = options.remove(INNER.key());
        String late = options.remove(LATE_AFTER_MS.key());
        if (inner == null || late == null) {
            throw new ValidationException(IDENTIFIER + " needs the options 'inner' (the wrapped connector) and "
                    + "'late-after-ms'");
        }
        long lateAfterMs;
        try {
            lateAfterMs = Long.parseLong(late.trim());
        } catch (NumberFormatException e) {
            throw new ValidationException(IDENTIFIER + ": 'late-after-ms' = '" + late + "' is not a number of milliseconds");
        }
        options.put(FactoryUtil.CONNECTOR.key(), inner);
        DynamicTableSource source = FactoryUtil.createDynamicTableSource(null, context.getObjectIdentifier(),
                table.copy(options), Collections.emptyMap(), context.getConfiguration(), context.getClassLoader(),
                context.isTemporary());
        if (!(source instanceof ScanTableSource)) {
            throw new ValidationException(IDENTIFIER + ": connector '" + inner + "' is not a scan source");
        }
        return new JudgedSource((ScanTableSource) source, context.getPhysicalRowDataType(), lateAfterMs);
    }
}

package dev.clickpulse.flink.judge;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.source.DataStreamScanProvider;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.connector.source.abilities.SupportsReadingMetadata;
import org.apache.flink.table.connector.source.abilities.SupportsWatermarkPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The events topic (or a file of recorded Kafka records) with every record judged where it
 * is read ({@link JudgeOperator}): the wrapped connector's source, then the judge, chained,
 * with no shuffle. Metadata and watermarks are the wrapped source's: watermarks are made
 * per Kafka partition inside the source, before the judge.
 */
final class JudgedSource implements ScanTableSource, SupportsReadingMetadata, SupportsWatermarkPushDown {
    private final ScanTableSource inner;
    private final DataType physicalType;
    private final long lateAfterMs;
    private DataType producedType;
    private WatermarkStrategy<RowData> watermarks;

    JudgedSource(ScanTableSource inner, DataType physicalType, long lateAfterMs) {
        this.inner = inner;
        this.physicalType = physicalType;
        this.producedType = physicalType;
        this.lateAfterMs = lateAfterMs;
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return ChangelogMode.insertOnly();
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        ScanRuntimeProvider provider = inner.getScanRuntimeProvider(context);
        JudgeOperator.JudgeLayout layout = layout((RowType) producedType.getLogicalType());
        boolean watermarksInside = inner instanceof SupportsWatermarkPushDown;
        long late = lateAfterMs;
        WatermarkStrategy<RowData> wm = watermarks;
        return new DataStreamScanProvider() {
            @Override
            public DataStream<RowData> produceDataStream(ProviderContext providerContext,
                                                         StreamExecutionEnvironment env) {
                DataStream<RowData> read = read(provider, providerContext, env);
                if (!watermarksInside && wm != null) {
                    read = read.assignTimestampsAndWatermarks(wm);
                }
                SingleOutputStreamOperator<RowData> judged = read
                        .transform("judge lateness and copies per partition", read.getType(),
                                new JudgeOperator(layout, late))
                        .setParallelism(read.getParallelism());
                providerContext.generateUid("clickpulse-judge").ifPresent(judged::uid);
                return judged;
            }

            @Override
            public boolean isBounded() {
                return provider.isBounded();
            }
        };
    }

    private static DataStream<RowData> read(ScanRuntimeProvider provider, ProviderContext ctx,
                                            StreamExecutionEnvironment env) {
        if (provider instanceof DataStreamScanProvider) {
            return ((DataStreamScanProvider) provider).produceDataStream(ctx, env);
        }
        if (provider instanceof SourceProvider) {
            return env.fromSource(((SourceProvider) provider).createSource(), WatermarkStrategy.noWatermarks(),
                    "clickpulse-judged source");
        }
        throw new ValidationException("clickpulse-judged cannot wrap a source whose runtime provider is "
                + provider.getClass().getName());
    }

    /** Finds the judged columns by name in the rows the wrapped source produces. */
    private static JudgeOperator.JudgeLayout layout(RowType row) {
        List<String> names = row.getFieldNames();
        return new JudgeOperator.JudgeLayout(
                index(row, names, LogicalTypeRoot.VARCHAR, "event_id"),
                index(row, names, LogicalTypeRoot.BIGINT, "ts"),
                index(row, names, LogicalTypeRoot.BOOLEAN, "tick"),
                index(row, names, LogicalTypeRoot.VARCHAR, "error"),
                index(row, names, LogicalTypeRoot.INTEGER, "kafka_partition", "partition"),
                index(row, names, LogicalTypeRoot.BIGINT, "kafka_offset", "offset"),
                index(row, names, LogicalTypeRoot.BOOLEAN, "is_late"),
                getters(row));
    }

    private static RowData.FieldGetter[] getters(RowType row) {
        RowData.FieldGetter[] out = new RowData.FieldGetter[row.getFieldCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = RowData.createFieldGetter(row.getTypeAt(i), i);
        }
        return out;
    }

    private static int index(RowType row, List<String> names, LogicalTypeRoot type, String... candidates) {
        for (String c : candidates) {
            int i = names.indexOf(c);
            if (i >= 0) {
                LogicalType t = row.getTypeAt(i);
                if (t.getTypeRoot() != type) {
                    throw new ValidationException("clickpulse-judged: column `" + c + "` must be " + type + ", not " + t);
                }
                return i;
            }
        }
        throw new ValidationException("clickpulse-judged needs a column " + String.join(" or ", candidates)
                + " (" + type + "); the table has " + names);
    }

    @Override
    public Map<String, DataType> listReadableMetadata() {
        return inner instanceof SupportsReadingMetadata
                ? ((SupportsReadingMetadata) inner).listReadableMetadata() : Collections.emptyMap();
    }

    @Override
    public void applyReadableMetadata(List<String> metadataKeys, DataType producedDataType) {
        if (!(inner instanceof SupportsReadingMetadata)) {
            throw new ValidationException("the wrapped connector offers no metadata");
        }
        ((SupportsReadingMetadata) inner).applyReadableMetadata(metadataKeys, producedDataType);
        producedType = producedDataType;
    }

    /** Every declared metadata column is read: the judge needs the partition and offset even
     * where a query does not select them. */
    @Override
    public boolean supportsMetadataProjection() {
        return false;
    }

    @Override
    public void applyWatermark(WatermarkStrategy<RowData> watermarkStrategy) {
        watermarks = watermarkStrategy;
        if (inner instanceof SupportsWatermarkPushDown) {
            ((SupportsWatermarkPushDown) inner).applyWatermark(watermarkStrategy);
        }
    }

    @Override
    public DynamicTableSource copy() {
        JudgedSource c = new JudgedSource((ScanTableSource) inner.copy(), physicalType, lateAfterMs);
        c.producedType = producedType;
        c.watermarks = watermarks;
        return c;
    }

    @Override
    public String asSummaryString() {
        return "clickpulse-judged(" + inner.asSummaryString() + ")";
    }
}

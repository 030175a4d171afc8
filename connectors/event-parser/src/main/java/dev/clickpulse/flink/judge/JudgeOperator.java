package dev.clickpulse.flink.judge;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeutils.base.array.BytePrimitiveArraySerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;

import java.util.HashMap;
import java.util.Map;

/**
 * Judges every record of the events topic where it is read, chained to the source: late or
 * on time, and whether it is a copy, from the state of its Kafka partition
 * ({@link PartitionJudge}). Sets {@code is_late} on events and drops copies; passes the
 * ticker's clock ticks (with {@code is_late} NULL, after they have moved their partition's
 * event time) and invalid records on as they are.
 *
 * <p>No shuffle: each partition is read by one subtask, which keeps its state as operator
 * state. The state of every partition goes into each checkpoint as union list state, so a
 * restore (also with another parallelism) gives every subtask every partition's state; the
 * copy that saw the highest offset of a partition wins.
 */
public final class JudgeOperator extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    private final JudgeLayout layout;
    private final long lateAfterMs;

    private transient Map<Integer, PartitionJudge> partitions;
    private transient ListState<byte[]> saved;
    private transient Counter late;
    private transient Counter copies;

    public JudgeOperator(JudgeLayout layout, long lateAfterMs) {
        this.layout = layout;
        this.lateAfterMs = lateAfterMs;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        partitions = new HashMap<>();
        saved = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("clickpulse-judge-partitions", BytePrimitiveArraySerializer.INSTANCE));
        for (byte[] bytes : saved.get()) {
            PartitionJudge j = PartitionJudge.read(new DataInputDeserializer(bytes));
            PartitionJudge have = partitions.get(j.partition);
            if (have == null || j.lastOffset > have.lastOffset) {
                partitions.put(j.partition, j);
            }
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        late = getMetricGroup().counter("lateEvents");
        copies = getMetricGroup().counter("copiesDropped");
        getMetricGroup().gauge("rememberedIds",
                () -> partitions.values().stream().mapToInt(PartitionJudge::remembered).sum());
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        saved.clear();
        DataOutputSerializer out = new DataOutputSerializer(256);
        for (PartitionJudge j : partitions.values()) {
            out.clear();
            j.write(out);
            saved.add(out.getCopyOfBuffer());
        }
    }

    @Override
    public void processElement(StreamRecord<RowData> record) throws Exception {
        RowData row = record.getValue();
        if (!row.isNullAt(layout.error)) {
            output.collect(record);  // not an event: the invalid-records branch needs it as it is
            return;
        }
        int p = row.isNullAt(layout.partition) ? 0 : row.getInt(layout.partition);
        PartitionJudge judge = partitions.computeIfAbsent(p, PartitionJudge::new);
        if (!row.isNullAt(layout.offset)) {
            judge.lastOffset = row.getLong(layout.offset);
        }
        long ts = row.getLong(layout.ts);
        if (!row.isNullAt(layout.tick) && row.getBoolean(layout.tick)) {
            judge.tick(ts, lateAfterMs);
            output.collect(record);  // views that count time itself (alert minutes) see the ticks
            return;
        }
        switch (judge.judge(row.getString(layout.eventId), ts, lateAfterMs)) {
            case COPY:
                copies.inc();
                return;
            case LATE:
                late.inc();
                output.collect(record.replace(layout.withLate(row, true)));
                return;
            default:
                output.collect(record.replace(layout.withLate(row, false)));
        }
    }

    /** Where the judged columns are in the source's rows. */
    public static final class JudgeLayout implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final int eventId;
        final int ts;
        final int tick;
        final int error;
        final int partition;
        final int offset;
        final int isLate;
        private final RowData.FieldGetter[] fields;

        public JudgeLayout(int eventId, int ts, int tick, int error, int partition, int offset, int isLate,
                           RowData.FieldGetter[] fields) {
            this.eventId = eventId;
            this.ts = ts;
            this.tick = tick;
            this.error = error;
            this.partition = partition;
            this.offset = offset;
            this.isLate = isLate;
            this.fields = fields;
        }

        /** The row with is_late set: in place where the source made a GenericRowData (the Kafka
         * connector does), else a copy (a projection of the file source, in tests). */
        RowData withLate(RowData row, boolean value) {
            GenericRowData out;
            if (row instanceof GenericRowData) {
                out = (GenericRowData) row;
            } else {
                out = new GenericRowData(row.getRowKind(), fields.length);
                for (int i = 0; i < fields.length; i++) {
                    out.setField(i, fields[i].getFieldOrNull(row));
                }
            }
            out.setField(isLate, value);
            return out;
        }
    }
}

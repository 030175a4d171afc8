package dev.clickpulse.flink.funnel;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/** Checkpoints of funnel_percentiles' accumulator: the distinct values and their counts. Format version 1. */
public final class DurationsSerializer extends TypeSerializerSingleton<Durations> {
    private static final long serialVersionUID = 1L;
    public static final DurationsSerializer INSTANCE = new DurationsSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public Durations createInstance() {
        return new Durations();
    }

    @Override
    public Durations copy(Durations from) {
        return from.copy();
    }

    @Override
    public Durations copy(Durations from, Durations reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(Durations d, DataOutputView out) throws IOException {
        int live = 0;
        for (int i = 0; i < d.slots; i++) {
            if (d.counts[i] > 0) {
                live++;
            }
        }
        out.writeInt(live);
        for (int i = 0; i < d.slots; i++) {
            if (d.counts[i] > 0) {
                out.writeLong(d.values[i]);
                out.writeInt(d.counts[i]);
            }
        }
    }

    @Override
    public Durations deserialize(DataInputView in) throws IOException {
        int live = in.readInt();
        Durations d = new Durations();
        d.values = new long[Math.max(live, 8)];
        d.counts = new int[Math.max(live, 8)];
        for (int i = 0; i < live; i++) {
            d.values[i] = in.readLong();
            d.counts[i] = in.readInt();
            d.total += d.counts[i];
        }
        d.slots = live;
        return d;
    }

    @Override
    public Durations deserialize(Durations reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<Durations> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Serializer snapshot: format version 1, no parameters. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<Durations> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}

package dev.clickpulse.flink.funnel;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * Checkpoints of funnel_reach's accumulator: the configuration, the result and the events
 * (the live attempts are derived from the events again). Format version 1.
 */
public final class FunnelAttemptsSerializer extends TypeSerializerSingleton<FunnelAttempts> {
    private static final long serialVersionUID = 1L;
    public static final FunnelAttemptsSerializer INSTANCE = new FunnelAttemptsSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public FunnelAttempts createInstance() {
        return new FunnelAttempts();
    }

    @Override
    public FunnelAttempts copy(FunnelAttempts from) {
        return from.copy();
    }

    @Override
    public FunnelAttempts copy(FunnelAttempts from, FunnelAttempts reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(FunnelAttempts a, DataOutputView out) throws IOException {
        out.writeBoolean(a.configured());
        out.writeLong(a.hourMs);
        out.writeLong(a.windowMs);
        out.writeInt(a.steps);
        out.writeInt(a.reached);
        out.writeInt(a.n);
        for (int i = 0; i < a.n; i++) {
            out.writeLong(a.ts[i]);
            out.writeInt(a.mask[i]);
        }
    }

    @Override
    public FunnelAttempts deserialize(DataInputView in) throws IOException {
        boolean configured = in.readBoolean();
        long hourMs = in.readLong();
        long windowMs = in.readLong();
        int steps = in.readInt();
        int reached = in.readInt();
        int n = in.readInt();
        long[] ts = new long[n];
        int[] mask = new int[n];
        for (int i = 0; i < n; i++) {
            ts[i] = in.readLong();
            mask[i] = in.readInt();
        }
        return FunnelAttempts.restore(configured, hourMs, windowMs, steps, reached, ts, mask, n);
    }

    @Override
    public FunnelAttempts deserialize(FunnelAttempts reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<FunnelAttempts> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Serializer snapshot: format version 1, no parameters. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<FunnelAttempts> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}

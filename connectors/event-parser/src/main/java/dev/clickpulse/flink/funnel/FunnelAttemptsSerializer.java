package dev.clickpulse.flink.funnel;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;

/**
 * Checkpoints of funnel_reach's accumulator: the configuration and the events, with the
 * segment of each step-1 event (the attempts, times and first segment are derived from the
 * events again). Format version 3: a segment is any number of values (country, device,
 * plan and the promoted properties), written with its length; version 2 had exactly
 * country, device and plan, version 1 no segments. State of an older format cannot be
 * restored into this one, whose funnel plan differs anyway: submit the job afresh.
 */
public final class FunnelAttemptsSerializer extends TypeSerializerSingleton<FunnelAttempts> {
    private static final long serialVersionUID = 3L;
    private static final int VERSION = 3;
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
        out.writeByte(VERSION);
        out.writeBoolean(a.configured());
        out.writeLong(a.hourMs);
        out.writeLong(a.windowMs);
        out.writeInt(a.steps);
        out.writeInt(a.n);
        for (int i = 0; i < a.n; i++) {
            out.writeLong(a.ts[i]);
            out.writeInt(a.mask[i]);
            String[] s = a.seg[i];
            out.writeBoolean(s != null);
            if (s != null) {
                out.writeInt(s.length);
                for (String v : s) {
                    out.writeBoolean(v != null);
                    if (v != null) {
                        out.writeUTF(v);
                    }
                }
            }
        }
    }

    @Override
    public FunnelAttempts deserialize(DataInputView in) throws IOException {
        int version = in.readByte();
        if (version != VERSION) {
            throw new IOException("funnel_reach state of format " + version + ", expected " + VERSION
                    + ": submit the job without the old state");
        }
        boolean configured = in.readBoolean();
        long hourMs = in.readLong();
        long windowMs = in.readLong();
        int steps = in.readInt();
        int n = in.readInt();
        long[] ts = new long[n];
        int[] mask = new int[n];
        String[][] seg = new String[n][];
        for (int i = 0; i < n; i++) {
            ts[i] = in.readLong();
            mask[i] = in.readInt();
            if (in.readBoolean()) {
                String[] s = new String[in.readInt()];
                for (int j = 0; j < s.length; j++) {
                    s[j] = in.readBoolean() ? in.readUTF() : null;
                }
                seg[i] = s;
            }
        }
        return FunnelAttempts.restore(configured, hourMs, windowMs, steps, ts, mask, seg, n);
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

    /** Serializer snapshot: no parameters (the format version is in each record). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<FunnelAttempts> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}

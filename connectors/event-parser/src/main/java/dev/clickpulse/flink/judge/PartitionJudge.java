package dev.clickpulse.flink.judge;

import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.io.IOException;
import java.util.HashMap;
import java.util.PriorityQueue;

/**
 * What one Kafka partition has carried: its newest event time (events and clock ticks), and
 * the ids of its events that a copy could still arrive on time for.
 *
 * <p>A record is late when its event time is {@code lateAfterMs} or more behind the newest
 * event time of its partition, itself included. A copy of an event (the same record sent
 * again: same id, same time) is dropped while it would be on time; once the partition's
 * newest time is past that horizon, every copy would be late, so the id is forgotten and a
 * copy arriving after that is counted as late like any other late record. The state is
 * therefore only the ids of the last {@code lateAfterMs} of event time (plus events stamped
 * ahead of their partition), not an hour of ids.
 */
final class PartitionJudge {
    final int partition;
    long newest = Long.MIN_VALUE;
    long lastOffset = -1;
    private final HashMap<StringData, Long> remembered = new HashMap<>();
    private final PriorityQueue<Entry> byTime = new PriorityQueue<>();

    private static final class Entry implements Comparable<Entry> {
        final long ts;
        final StringData id;

        Entry(long ts, StringData id) {
            this.ts = ts;
            this.id = id;
        }

        @Override
        public int compareTo(Entry o) {
            return Long.compare(ts, o.ts);
        }
    }

    /** What became of one record. */
    enum Verdict { ON_TIME, LATE, COPY }

    PartitionJudge(int partition) {
        this.partition = partition;
    }

    /** A clock tick: moves the partition's event time. */
    void tick(long ts, long lateAfterMs) {
        newest = Math.max(newest, ts);
        forget(newest - lateAfterMs);
    }

    Verdict judge(StringData eventId, long ts, long lateAfterMs) {
        newest = Math.max(newest, ts);
        long horizon = newest - lateAfterMs;
        Verdict v;
        if (ts <= horizon) {
            v = Verdict.LATE;
        } else if (remembered.containsKey(eventId)) {
            v = Verdict.COPY;
        } else {
            StringData id = eventId instanceof BinaryStringData ? ((BinaryStringData) eventId).copy() : eventId;
            remembered.put(id, ts);
            byTime.add(new Entry(ts, id));
            v = Verdict.ON_TIME;
        }
        forget(horizon);
        return v;
    }

    private void forget(long horizon) {
        while (!byTime.isEmpty() && byTime.peek().ts <= horizon) {
            Entry e = byTime.poll();
            remembered.remove(e.id);
        }
    }

    int remembered() {
        return remembered.size();
    }

    void write(DataOutputView out) throws IOException {
        out.writeInt(partition);
        out.writeLong(lastOffset);
        out.writeLong(newest);
        out.writeInt(byTime.size());
        for (Entry e : byTime) {
            out.writeLong(e.ts);
            out.writeUTF(e.id.toString());
        }
    }

    static PartitionJudge read(DataInputView in) throws IOException {
        PartitionJudge j = new PartitionJudge(in.readInt());
        j.lastOffset = in.readLong();
        j.newest = in.readLong();
        int n = in.readInt();
        for (int i = 0; i < n; i++) {
            long ts = in.readLong();
            StringData id = StringData.fromString(in.readUTF());
            j.remembered.put(id, ts);
            j.byTime.add(new Entry(ts, id));
        }
        return j;
    }
}

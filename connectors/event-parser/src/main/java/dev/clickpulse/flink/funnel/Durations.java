package dev.clickpulse.flink.funnel;

import java.util.Arrays;

/**
 * A multiset of durations (ms) kept exactly: the distinct values in order with their counts.
 * Adding and taking back a value is a binary search (and a move of the larger values when
 * the value is new); a percentile is a walk over the distinct values. A value whose count
 * drops to 0 keeps its slot until half the slots are empty, because a retraction is nearly
 * always followed by the same value again (a user's row rewritten with the same time).
 */
public final class Durations {
    long[] values = new long[8];
    int[] counts = new int[8];
    int slots;
    long total;
    int empty;

    void add(long v) {
        int i = Arrays.binarySearch(values, 0, slots, v);
        if (i >= 0) {
            if (counts[i]++ == 0) {
                empty--;
            }
        } else {
            i = -i - 1;
            if (slots == values.length) {
                values = Arrays.copyOf(values, slots * 2);
                counts = Arrays.copyOf(counts, slots * 2);
            }
            System.arraycopy(values, i, values, i + 1, slots - i);
            System.arraycopy(counts, i, counts, i + 1, slots - i);
            values[i] = v;
            counts[i] = 1;
            slots++;
        }
        total++;
    }

    void remove(long v) {
        int i = Arrays.binarySearch(values, 0, slots, v);
        if (i < 0 || counts[i] == 0) {
            return;
        }
        if (--counts[i] == 0) {
            empty++;
        }
        total--;
        if (empty > 16 && empty * 2 > slots) {
            compact();
        }
    }

    private void compact() {
        int kept = 0;
        for (int i = 0; i < slots; i++) {
            if (counts[i] > 0) {
                values[kept] = values[i];
                counts[kept] = counts[i];
                kept++;
            }
        }
        slots = kept;
        empty = 0;
    }

    /** The value of rank r (0-based) in sorted order. */
    private long rank(long r) {
        long seen = 0;
        for (int i = 0; i < slots; i++) {
            seen += counts[i];
            if (r < seen) {
                return values[i];
            }
        }
        throw new IllegalStateException("rank " + r + " of " + total);
    }

    /**
     * PostgreSQL's percentile_cont(p): the value at position p * (n - 1) of the sorted values,
     * interpolated linearly between its neighbours; NULL for no values.
     */
    Double percentile(double p) {
        if (total == 0) {
            return null;
        }
        double pos = p * (total - 1);
        long lo = (long) Math.floor(pos);
        double frac = pos - lo;
        long a = rank(lo);
        if (frac == 0) {
            return (double) a;
        }
        long b = rank(lo + 1);
        return a + frac * (b - a);
    }

    Durations copy() {
        Durations d = new Durations();
        d.values = Arrays.copyOf(values, Math.max(slots, 8));
        d.counts = Arrays.copyOf(counts, Math.max(slots, 8));
        d.slots = slots;
        d.total = total;
        d.empty = empty;
        return d;
    }
}

package dev.clickpulse.flink.funnel;

import java.util.Arrays;

/**
 * One user's attempts at one funnel that start in one hour: the events seen (in time
 * order, for a replay when one arrives out of order), the live attempts, bucketed by the
 * step they have reached, the shortest time from step 1 to each step reached, and the
 * segment (country, device, plan and the promoted properties: FunnelReach) of the hour's
 * first step-1 event.
 */
public final class FunnelAttempts {
    private static final long HOUR_MS = 3_600_000L;
    static final long NONE = Long.MAX_VALUE;

    // configuration, fixed per key (set by the first event)
    long hourMs;
    long windowMs;
    int steps;

    // the events seen, sorted by time (stable: equal times keep their arrival order); seg
    // only for events matching step 1 (null otherwise)
    long[] ts = new long[4];
    int[] mask = new int[4];
    String[][] seg = new String[4][];
    int n;

    // derived from the events in time order
    int reached;
    long newest = Long.MIN_VALUE;
    /** best[k - 1]: the shortest time (ms) from a step-1 event of the hour to step k; NONE if not reached. */
    long[] best;
    long firstTs = Long.MAX_VALUE;
    String[] firstSeg;
    /** live[k - 1]: attempts that have reached step k (k < steps): pairs of (last event time, deadline). */
    long[][] live;
    int[] liveCount;

    void add(long t, int m, long hour, long window, int stepCount, String[] segment) {
        if (live == null) {
            configure(hour, window, stepCount);
        }
        boolean inOrder = t >= newest;
        insert(t, m, (m & 1) != 0 ? segment : null);
        // Every event counts, even once the last step is reached: a later attempt may
        // convert faster, and the shortest time is what the step reports.
        if (inOrder) {
            step(t, m, (m & 1) != 0 ? segment : null);
        } else {
            replay();
        }
    }

    private void configure(long hour, long window, int stepCount) {
        hourMs = hour;
        windowMs = window;
        steps = stepCount;
        live = new long[Math.max(stepCount - 1, 1)][];
        liveCount = new int[live.length];
        best = new long[stepCount];
        Arrays.fill(best, NONE);
    }

    /** Take back one event (the planner's retraction; the metric's input is append-only). */
    void remove(long t, int m, String[] segment) {
        String[] s = (m & 1) != 0 ? segment : null;
        for (int i = n - 1; i >= 0; i--) {
            if (ts[i] == t && mask[i] == m && Arrays.equals(seg[i], s)) {
                System.arraycopy(ts, i + 1, ts, i, n - i - 1);
                System.arraycopy(mask, i + 1, mask, i, n - i - 1);
                System.arraycopy(seg, i + 1, seg, i, n - i - 1);
                n--;
                seg[n] = null;
                replay();
                return;
            }
        }
    }

    int reached() {
        return reached;
    }

    private void insert(long t, int m, String[] s) {
        if (n == ts.length) {
            int cap = Math.max(4, n * 2);
            ts = Arrays.copyOf(ts, cap);
            mask = Arrays.copyOf(mask, cap);
            seg = Arrays.copyOf(seg, cap);
        }
        int i = n;
        while (i > 0 && ts[i - 1] > t) {
            ts[i] = ts[i - 1];
            mask[i] = mask[i - 1];
            seg[i] = seg[i - 1];
            i--;
        }
        ts[i] = t;
        mask[i] = m;
        seg[i] = s;
        n++;
    }

    private void replay() {
        reached = 0;
        newest = Long.MIN_VALUE;
        firstTs = Long.MAX_VALUE;
        firstSeg = null;
        Arrays.fill(best, NONE);
        Arrays.fill(liveCount, 0);
        for (int i = 0; i < n; i++) {
            step(ts[i], mask[i], seg[i]);
        }
    }

    /** One event, later than (or as late as) every event stepped so far. */
    private void step(long t, int m, String[] s) {
        newest = t;
        // deepest first, so that an attempt this event advances is not advanced again by it
        for (int k = steps - 1; k >= 1; k--) {
            if ((m & (1 << k)) != 0) {
                advance(k, t);
            }
        }
        expire(t);
        if ((m & 1) != 0 && t >= hourMs && t < hourMs + HOUR_MS) {
            reached = Math.max(reached, 1);
            best[0] = 0;
            if (t < firstTs || (t == firstTs && compareSegments(s, firstSeg) < 0)) {
                firstTs = t;
                firstSeg = s;
            }
            if (steps > 1) {
                put(0, t, t + windowMs);
            }
        }
    }

    /**
     * Attempts at step k whose last event is earlier than t and whose deadline is later move
     * to step k + 1. Of those, the one that started last (latest deadline) gives the shortest
     * time to step k + 1, and it dominates the others from here on: the same events follow,
     * and it has more time left for them.
     */
    private void advance(int k, long t) {
        int from = k - 1;
        long[] pairs = live[from];
        int count = liveCount[from];
        long deadline = Long.MIN_VALUE;
        int kept = 0;
        for (int i = 0; i < count; i++) {
            long last = pairs[2 * i];
            long dl = pairs[2 * i + 1];
            if (last < t && t < dl) {
                deadline = Math.max(deadline, dl);
            } else {
                pairs[2 * kept] = last;
                pairs[2 * kept + 1] = dl;
                kept++;
            }
        }
        liveCount[from] = kept;
        if (deadline == Long.MIN_VALUE) {
            return;
        }
        reached = Math.max(reached, k + 1);
        best[k] = Math.min(best[k], t - (deadline - windowMs));
        if (k + 1 < steps) {
            put(k, t, deadline);
        }
    }

    /** Add an attempt at step index+1; one with the same last event time keeps the later deadline. */
    private void put(int index, long last, long deadline) {
        long[] pairs = live[index];
        int count = liveCount[index];
        for (int i = 0; i < count; i++) {
            if (pairs[2 * i] == last) {
                pairs[2 * i + 1] = Math.max(pairs[2 * i + 1], deadline);
                return;
            }
        }
        if (pairs == null || pairs.length < 2 * (count + 1)) {
            pairs = pairs == null ? new long[8] : Arrays.copyOf(pairs, pairs.length * 2);
            live[index] = pairs;
        }
        pairs[2 * count] = last;
        pairs[2 * count + 1] = deadline;
        liveCount[index] = count + 1;
    }

    /** Attempts whose deadline has passed can never advance on a later event. */
    private void expire(long t) {
        for (int s = 0; s < live.length; s++) {
            long[] pairs = live[s];
            int kept = 0;
            for (int i = 0; i < liveCount[s]; i++) {
                if (pairs[2 * i + 1] > t) {
                    pairs[2 * kept] = pairs[2 * i];
                    pairs[2 * kept + 1] = pairs[2 * i + 1];
                    kept++;
                }
            }
            liveCount[s] = kept;
        }
    }

    /**
     * Segments in code-point order, element by element (as the reference compares its tuples
     * of strings); a null element sorts first (events_clean has none: absent values are
     * 'unknown' or 'none').
     */
    static int compareSegments(String[] a, String[] b) {
        if (b == null) {
            return a == null ? 0 : -1;
        }
        if (a == null) {
            return 1;
        }
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (a[i] == null || b[i] == null) {
                if (a[i] != b[i]) {
                    return a[i] == null ? -1 : 1;
                }
                continue;
            }
            int c = compareCodePoints(a[i], b[i]);
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(a.length, b.length);
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Boolean.compare(i < a.length(), j < b.length());
    }

    /** Saved state: configuration and events; everything else is derived from the events. */
    static FunnelAttempts restore(boolean configured, long hourMs, long windowMs, int steps,
                                  long[] ts, int[] mask, String[][] seg, int n) {
        FunnelAttempts a = new FunnelAttempts();
        if (!configured) {
            return a;
        }
        a.configure(hourMs, windowMs, steps);
        a.ts = ts;
        a.mask = mask;
        a.seg = seg;
        a.n = n;
        a.replay();
        return a;
    }

    boolean configured() {
        return live != null;
    }

    FunnelAttempts copy() {
        return restore(configured(), hourMs, windowMs, steps, Arrays.copyOf(ts, n), Arrays.copyOf(mask, n),
                Arrays.copyOf(seg, n), n);
    }
}

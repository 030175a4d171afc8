package dev.clickpulse.flink.funnel;

import java.util.Arrays;

/**
 * One user's attempts at one funnel that start in one hour: the events seen (in time
 * order, for a replay when one arrives out of order) and the live attempts, bucketed by
 * the step they have reached.
 */
public final class FunnelAttempts {
    private static final long HOUR_MS = 3_600_000L;

    // configuration, fixed per key (set by the first event)
    long hourMs;
    long windowMs;
    int steps;

    // the events seen, sorted by time (stable: equal times keep their arrival order)
    long[] ts = new long[4];
    int[] mask = new int[4];
    int n;

    // derived from the events in time order
    int reached;
    long newest = Long.MIN_VALUE;
    /** live[k - 1]: attempts that have reached step k (k < steps): pairs of (last event time, deadline). */
    long[][] live;
    int[] liveCount;

    void add(long t, int m, long hour, long window, int stepCount) {
        if (live == null) {
            hourMs = hour;
            windowMs = window;
            steps = stepCount;
            live = new long[Math.max(stepCount - 1, 1)][];
            liveCount = new int[live.length];
        }
        boolean inOrder = t >= newest;
        insert(t, m);
        if (reached >= steps) {
            newest = Math.max(newest, t);
            return; // the deepest step is reached: only a retraction can change the result
        }
        if (inOrder) {
            step(t, m);
        } else {
            replay();
        }
    }

    /** Take back one event (the planner's retraction; the metric's input is append-only). */
    void remove(long t, int m) {
        for (int i = n - 1; i >= 0; i--) {
            if (ts[i] == t && mask[i] == m) {
                System.arraycopy(ts, i + 1, ts, i, n - i - 1);
                System.arraycopy(mask, i + 1, mask, i, n - i - 1);
                n--;
                replay();
                return;
            }
        }
    }

    int reached() {
        return reached;
    }

    private void insert(long t, int m) {
        if (n == ts.length) {
            ts = Arrays.copyOf(ts, Math.max(4, n * 2));
            mask = Arrays.copyOf(mask, Math.max(4, n * 2));
        }
        int i = n;
        while (i > 0 && ts[i - 1] > t) {
            ts[i] = ts[i - 1];
            mask[i] = mask[i - 1];
            i--;
        }
        ts[i] = t;
        mask[i] = m;
        n++;
    }

    private void replay() {
        reached = 0;
        newest = Long.MIN_VALUE;
        Arrays.fill(liveCount, 0);
        for (int i = 0; i < n && reached < steps; i++) {
            step(ts[i], mask[i]);
        }
    }

    /** One event, later than (or as late as) every event stepped so far. */
    private void step(long t, int m) {
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
            if (steps > 1) {
                put(0, t, t + windowMs);
            }
        }
    }

    /** Attempts at step k whose last event is earlier than t and whose deadline is later move to step k + 1. */
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

    /** Saved state: configuration, result and events; the live attempts are derived from the events. */
    static FunnelAttempts restore(boolean configured, long hourMs, long windowMs, int steps, int reached,
                                  long[] ts, int[] mask, int n) {
        FunnelAttempts a = new FunnelAttempts();
        if (!configured) {
            return a;
        }
        a.hourMs = hourMs;
        a.windowMs = windowMs;
        a.steps = steps;
        a.ts = ts;
        a.mask = mask;
        a.n = n;
        a.live = new long[Math.max(steps - 1, 1)][];
        a.liveCount = new int[a.live.length];
        a.replay();
        return a;
    }

    boolean configured() {
        return live != null;
    }

    FunnelAttempts copy() {
        return restore(configured(), hourMs, windowMs, steps, reached, Arrays.copyOf(ts, n),
                Arrays.copyOf(mask, n), n);
    }
}

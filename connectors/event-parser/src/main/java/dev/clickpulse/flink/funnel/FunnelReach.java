package dev.clickpulse.flink.funnel;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code funnel_reach(ts, mask, hour_ms, window_ms, steps)}: the deepest step of one funnel
 * reached by any attempt of one user that starts in one hour, as exact as the reference
 * (clickpulse.truth.funnel_conversions), and updated with every event instead of waiting
 * for the watermark.
 *
 * <p>Grouped by site, user and hour of attempt start; every event that can serve those
 * attempts arrives with {@code mask} bit k-1 set when it matches step k. An attempt starts
 * at every step-1 event of the hour and reaches step k when events matching steps 2..k
 * follow, each strictly later than the one before and less than {@code window_ms} after
 * the start. Taking the earliest such event at each step can only leave more room for the
 * next, so an attempt's future depends only on (step, time of its last event, deadline):
 * attempts that agree on the first two keep only the latest deadline. Events in time order
 * cost amortised O(steps); one that arrives behind an earlier one replays the key's events
 * in time order (events are at most the watermark delay out of order, so this is rare).
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = FunnelAttempts.class,
                rawSerializer = FunnelAttemptsSerializer.class),
        output = @DataTypeHint("INT"))
public class FunnelReach extends AggregateFunction<Integer, FunnelAttempts> {
    private static final long serialVersionUID = 1L;

    @Override
    public FunnelAttempts createAccumulator() {
        return new FunnelAttempts();
    }

    public void accumulate(FunnelAttempts acc, Long ts, Integer mask, Long hourMs, Long windowMs, Integer steps) {
        if (ts == null || mask == null || mask == 0 || hourMs == null || windowMs == null || steps == null) {
            return;
        }
        acc.add(ts, mask, hourMs, windowMs, steps);
    }

    public void retract(FunnelAttempts acc, Long ts, Integer mask, Long hourMs, Long windowMs, Integer steps) {
        if (ts == null || mask == null || mask == 0 || !acc.configured()) {
            return;
        }
        acc.remove(ts, mask);
    }

    @Override
    public Integer getValue(FunnelAttempts acc) {
        return acc.reached();
    }
}
